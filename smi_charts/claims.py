"""Book components that keep what the model does apart from what the studies say.

* ``claim(id)``: a statement about the model's behaviour, printed from ``data/claims.yaml`` with a
  "Model check" badge saying whether it holds at the shipped weights and in how many of the 200
  weight draws (``smi.claims``). A claim that does not hold as the book states it stops the build.
* ``claim_md(id)``: the same as a markdown sentence, for a predict-then-reveal explanation or a
  self-check's feedback.
* ``preset_check(preset)``: under a case card, the check of the preset's teaching point and the
  note that its input values are illustrative.
* ``assumes(*relation_ids)``: a "Model assumes" box for relations of ``data/relations.csv`` whose
  basis is the book's assumption, with the study claim each serves.

Each call displays static HTML (no script): it reads the same in the site, in print and in a
screen reader.
"""
from __future__ import annotations

import re

from IPython.display import HTML, display
from markdown_it import MarkdownIt
from markupsafe import Markup

import smi
from smi import claims as _claims
from smi.data import split_tokens
from smi.questionnaire import cite

from .templating import render, render_macro

_md = MarkdownIt("commonmark")
ILLUSTRATIVE = ("Input values are illustrative: the study measures none of them, so the book set the "
                "inputs this vignette speaks to and left the rest at their defaults.")


def _checked(claim_id: str) -> tuple[_claims.Claim, _claims.Result]:
    """The claim and its result; raises if the book would show a claim that does not hold as stated."""
    table, res = _claims.results()
    c = table.get(claim_id)
    bad = _claims.problems(_claims.Claims(table.scenarios, (c,), table.path), {c.id: res[c.id]})
    if bad:
        raise _claims.ClaimCheckError(bad[0])
    return c, res[c.id]


def claim_html(claim_id: str) -> str:
    c, r = _checked(claim_id)
    return render_macro("claims.html.j2", "claim", cid=c.id, r=r, text=Markup(_md.renderInline(c.text)))


def claim(claim_id: str) -> None:
    """Display a checked claim: its text and the model-check badge."""
    display(HTML(claim_html(claim_id)))


def claim_md(claim_id: str) -> str:
    """A checked claim as markdown, for text another component renders."""
    c, r = _checked(claim_id)
    return f"{c.text} (Model check, claim `{c.id}`: {r.badge}.)"


def preset_check(preset: str) -> None:
    """The check of a preset's teaching point, to show under its case card."""
    table, _ = _claims.results()
    ids = [c.id for c in table.claims if c.preset == preset]
    if len(ids) != 1:
        raise KeyError(f"preset {preset!r} needs exactly one teaching-point claim in {table.path.name} (found {ids})")
    c, r = _checked(ids[0])
    display(HTML(render_macro("claims.html.j2", "preset_check", cid=c.id, r=r, note=ILLUSTRATIVE)))


def reader_refs(refs: list[str]) -> str:
    """Study references as readers see them: 'malshe2017:s4.2' becomes 'Malshe et al. 2017, §4.2'."""
    text = cite(refs)
    text = re.sub(r"\bs(\d(?:\.\d)?)\b", r"§\1", text)
    return text.replace("contributions", "Contributions").replace("table2", "Table 2")


def assumes(*relation_ids: str, text: str | None = None) -> None:
    """A "Model assumes" box for relations whose basis is the book's assumption.

    ``text`` replaces the relations' statements (say the same thing in the page's context); the
    box still names the relations and the study claims they serve.
    """
    if not relation_ids:
        raise ValueError("assumes() needs at least one relation id from data/relations.csv")
    rel = smi.load().relations.set_index("id")
    unknown = [r for r in relation_ids if r not in rel.index]
    if unknown:
        raise KeyError(f"unknown relation {unknown[0]!r}; known: {', '.join(rel.index)}")
    study = [r for r in relation_ids if rel.loc[r, "basis"] != "assumption"]
    if study:
        raise ValueError(f"relation {study[0]!r} has basis 'study': a 'Model assumes' box is for the book's "
                         "assumptions only")
    paragraphs = [text] if text else [rel.loc[r, "statement"] for r in relation_ids]
    serves = sorted({s for r in relation_ids for s in split_tokens(rel.loc[r, "serves"])})
    display(HTML(render("assumes.html.j2", paragraphs=[Markup(_md.renderInline(p)) for p in paragraphs],
                        serves=reader_refs(serves), relation_ids=list(relation_ids))))
