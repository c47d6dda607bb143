"""Framework diagrams of the three studies, drawn from ``data/`` at build time.

Each function returns a :class:`Diagram`: Graphviz DOT source (rendered to SVG by
``sphinx.ext.graphviz`` through the ``smi-diagram`` directive in ``smi_charts.sphinx_ext``) and a
text alternative built from the same rows, so the picture and its description cannot drift apart.
The diagrams show only what the studies state, each node and arrow citing its proposition or
section; the model's assumptions (weights, gradings, the single connection score) are left out.
Layouts are tall and at most two or three nodes wide so they stay legible on a phone.
"""
from __future__ import annotations

import html
import textwrap
from dataclasses import dataclass

from smi import data as smi_data
from smi.data import split_tokens

from .templating import render

STUDIES = ("malshe2011", "hughes2012", "malshe2017")

# Okabe-Ito colours (as in the charts); fills are light tints so black text keeps AA contrast.
BLUE, ORANGE, GREEN, GREY = "#0072B2", "#D55E00", "#009E73", "#555555"
FILL_DRIVER, FILL_OUTCOME, FILL_NOTE = "#e6f1f8", "#fbeee6", "#f2f2f2"
FONT = "DejaVu Sans"

# Hughes et al. (2012) place the SMI "at the interface" of other functions but the data tables hold
# no list of them: these are the functions the article names for that interface, in the section
# "The Marketing-Sales Interface at the Interface of Other Functions" (the interface literature it
# builds on) and in its Conclusion. Tests check each is in the diagram and its text alternative.
OTHER_FUNCTIONS_2012 = ("general management", "finance and accounting", "manufacturing", "R&D", "engineering",
                        "logistics", "purchasing", "human resources", "IT", "legal")
OTHER_FUNCTIONS_SOURCE = ("Hughes et al. 2012, “The Marketing–Sales Interface at the Interface of Other "
                          "Functions” and Conclusion")

# The progression paths that Malshe et al. (2017, §3.4) describe as evidence for P7, each hedged in
# the text ("may", "could"); the model's couplings (data/parameters.csv) add paths the study does not
# single out, so they are not drawn. Names are checked against data/sensemaking.csv.
P7_PATHS_2017 = (("lack_of_collaboration", "communication_paucity"),
                 ("communication_paucity", "overt_conflict"),
                 ("overt_conflict", "communication_paucity"))


@dataclass(frozen=True)
class Diagram:
    study: str
    title: str
    dot: str
    summary: str  # one-paragraph description: the image's alt text
    sections: tuple[tuple[str, tuple[str, ...]], ...]  # text alternative: (heading, lines)

    def text_alternative(self) -> str:
        """The text alternative as plain text (what a screen reader or the print edition gives)."""
        out = [self.summary]
        for heading, lines in self.sections:
            out.append(heading)
            out.extend(f"- {line}" for line in lines)
        return "\n".join(out)


# --------------------------------------------------------------------------- DOT helpers

def _wrap(text: str, width: int) -> str:
    """HTML-label text, wrapped to ``width`` characters per line (Graphviz does not wrap)."""
    return "<BR/>".join(html.escape(line) for line in textwrap.wrap(text, width) or [""])


def _label(text: str, width: int = 24, head: str = "", note: str = "") -> str:
    """An HTML-like label: an optional small heading, the wrapped text, an optional small note."""
    parts = []
    if head:
        parts.append(f'<FONT POINT-SIZE="10">{html.escape(head)}</FONT>')
    parts.append(_wrap(text, width))
    if note:
        parts.append(f'<FONT POINT-SIZE="10">{_wrap(note, width + 4)}</FONT>')
    return "<" + "<BR/>".join(parts) + ">"


def _attrs(**kw: str) -> str:
    out = []
    for k, v in kw.items():
        if v.startswith("<") and v.endswith(">"):
            out.append(f"{k}={v}")  # HTML-like label, not quoted
        else:
            out.append(f'{k}="{v}"')
    return "[" + ", ".join(out) + "]"


def _graph(name: str, body: list[str], rankdir: str = "TB") -> str:
    head = [f"digraph {name} {{",
            f'  graph [rankdir={rankdir}, fontname="{FONT}", fontsize=12, nodesep=0.25, ranksep=0.35, '
            'pad=0.1, newrank=true, compound=true];',
            f'  node [shape=box, style="rounded,filled", fillcolor="white", color="{GREY}", fontname="{FONT}", '
            'fontsize=12, margin="0.08,0.05"];',
            f'  edge [color="{GREY}", fontname="{FONT}", fontsize=10, arrowsize=0.7];']
    return "\n".join(head + ["  " + line for line in body] + ["}"]) + "\n"


def _props(tokens: str, study: str) -> list[str]:
    """Proposition numbers from ``study:P3|study:P4`` tokens."""
    return [t.split(":", 1)[1] for t in split_tokens(tokens) if t.startswith(study + ":")]


def _theory(theory):
    return theory if theory is not None else smi_data.load()


# --------------------------------------------------------------------------- Malshe (2011)

def _boundary_conditions(text: str) -> dict[str, str]:
    """Proposition -> boundary condition the study names for it, from linkages.csv's
    ``boundary_conditions`` ("organizational hierarchy: ... (P1); ...")."""
    out = {}
    for clause in (c.strip() for c in text.split(";")):
        if ":" in clause and clause.endswith(")") and "(P" in clause:
            out[clause[clause.rindex("(P") + 1:-1]] = clause.split(":", 1)[0].strip()
    return out


def malshe2011(theory=None) -> Diagram:
    """The integrative framework: each linkage's drivers (or components) and the provisos a
    driver's effect depends on (P1-P5), the two new linkages (P6, P7), all strengthening the
    sales-marketing connection."""
    t = _theory(theory)
    inputs = t.inputs[t.inputs["layer"] == "linkages"]
    clusters, sections = [], []
    for lk in t.linkages.itertuples():
        cluster: list[str] = []
        rows = inputs[inputs["linkage"].str.split("|").apply(lambda v, k=lk.linkage: k in v)]
        props = ", ".join(split_tokens(lk.propositions))
        new = " (added by the 2011 study)" if lk.new_in_2011 in (True, "true", "True") else ""
        conditions = _boundary_conditions(lk.boundary_conditions)
        cluster.append(f"subgraph cluster_{lk.linkage} {{")
        cluster.append(f'  label={_label(f"{lk.label} ({props}){new}", 40)}; labeljust=l; style="rounded"; color="{GREY}";')
        cluster.append(f'  {lk.linkage} {_attrs(label=_label(lk.label, 14), fillcolor=FILL_OUTCOME, color=ORANGE)};')
        lines = []
        drivers = rows[rows["kind"].isin(["driver", "component"])]
        provisos = rows[rows["kind"] == "proviso"]
        for r in drivers.itertuples():
            p = ", ".join(_props(r.propositions, "malshe2011"))
            head = "DRIVER" if r.kind == "driver" else "COMPONENT"
            cluster.append(f'  {r.name} {_attrs(label=_label(r.label, 24, head, f"({p})"), fillcolor=FILL_DRIVER, color=BLUE)};')
            gated = [q for q in provisos.itertuples() if set(_props(q.propositions, "malshe2011")) & set(_props(r.propositions, "malshe2011"))]
            if gated:
                # a proviso moderates the driver's arrow: both meet at a junction point
                j = f"{r.name}_gate"
                cluster.append(f'  {j} [shape=point, width=0.07, color="{GREY}", label=""];')
                cluster.append(f"  {r.name} -> {j} [arrowhead=none];")
                cluster.append(f"  {j} -> {lk.linkage};")
                for q in gated:
                    qp = _props(q.propositions, "malshe2011")
                    named = [conditions[x] for x in qp if x in conditions]
                    note = f"({', '.join(qp)})" + (f"; boundary condition: {named[0]}" if named else "")
                    cluster.append(f'  {q.name} {_attrs(label=_label(q.label, 24, "ONLY IF", note), style="rounded,dashed", color=BLUE)};')
                    cluster.append(f'  {q.name} -> {j} [style=dashed, arrowhead=odot];')
                cond = "; ".join(f"{q.label} ({', '.join(_props(q.propositions, 'malshe2011'))})" for q in gated)
                lines.append(f"{r.label} ({p}) strengthens the {lk.label.lower()} only if: {cond}.")
            else:
                # minlen=2: components stand in the drivers' column, not in the junctions'
                cluster.append(f"  {r.name} -> {lk.linkage} [minlen=2];")
                lines.append(f"{r.label} ({p}) builds the {lk.label.lower()}.")
        for prop, named in conditions.items():
            lines.append(f"Boundary condition the study names for {prop}: {named}.")
        cluster.append("}")
        cluster.append(f'{lk.linkage} -> connection [color="{ORANGE}", penwidth=1.3, constraint=false];')
        lines.append(f"The {lk.label.lower()} strengthens the sales–marketing connection ({props}).")
        clusters.append(cluster)
        sections.append((f"{lk.label} ({props}){new}", tuple(lines)))
    # the connection shares the linkages' column, below them: two columns fit a phone's width.
    # A left-to-right layout stacks same-rank nodes bottom-up in the order they are declared.
    body = [line for cluster in reversed(clusters) for line in cluster]
    body.insert(0, f'connection {_attrs(label=_label("Sales–marketing connection", 16), fillcolor=FILL_OUTCOME, color=ORANGE, penwidth="1.5")};')
    column = [*t.linkages["linkage"], "connection"]
    body.append("{rank=same; " + " ".join(f"{k};" for k in column) + "}")
    summary = ("Diagram of Malshe (2011)'s integrative framework: five linkages (language, structure, "
               "process artifacts, social, philosophical), each built by its drivers or components, the "
               "provisos a driver's effect depends on (dashed, P1–P5), all strengthening the sales–marketing "
               "connection (P1–P7). Arrows are the study's propositions; the book's weights and its grading "
               "of the boundary conditions are not shown.")
    return Diagram("malshe2011", "The integrative framework (Malshe 2011)", _graph("malshe2011", body, "LR"),
                   summary, tuple(sections))


# --------------------------------------------------------------------------- Hughes et al. (2012)

def hughes2012(theory=None) -> Diagram:
    """Eight levers -> SMI functioning -> cross-functional synergy -> five market-based
    capabilities (P1-P5), the other functions at the interface, and the capabilities' spill-overs
    (Contributions)."""
    t = _theory(theory)
    levers = list(t.levers.itertuples())
    caps = list(t.capabilities.itertuples())
    body = ["subgraph cluster_levers {",
            f'  label={_label("Eight synergistic levers, shared and integrated (Table 2)", 40)}; labeljust=l; '
            f'style="rounded"; color="{BLUE}";']
    for lv in levers:
        body.append(f'  lever_{lv.lever} {_attrs(label=_label(lv.label, 14), fillcolor=FILL_DRIVER, color=BLUE)};')
    # rows of two, in Table 2's order, keep the cluster narrow
    rows = [levers[i:i + 2] for i in range(0, len(levers), 2)]
    for row in rows:
        body.append("  {rank=same; " + " ".join(f"lever_{lv.lever};" for lv in row) + "}")
        if len(row) == 2:
            body.append(f"  lever_{row[0].lever} -> lever_{row[1].lever} [style=invis];")
    for upper, lower in zip(rows, rows[1:]):
        for a, b in zip(upper, lower):
            body.append(f"  lever_{a.lever} -> lever_{b.lever} [style=invis];")
    body.append("}")
    last = levers[-1].lever
    body.append(f'functioning {_attrs(label=_label("SMI functioning (the interface works at its best)", 18), fillcolor=FILL_OUTCOME, color=ORANGE)};')
    body.append(f'synergy {_attrs(label=_label("Cross-functional synergy", 16), fillcolor=FILL_OUTCOME, color=ORANGE)};')
    others = ", ".join(OTHER_FUNCTIONS_2012)
    body.append(f'others {_attrs(label=_label(others, 18, "OTHER FUNCTIONS", "at the interface"), fillcolor=FILL_NOTE)};')
    body.append(f"lever_{last} -> functioning [ltail=cluster_levers, label=\"P1–P5\"];")
    body.append("functioning -> synergy [label=\"P1–P5\"];")
    body.append('others -> synergy [style=dashed, arrowhead=none, label="in coordination"];')
    body.append("{rank=same; others; functioning;}")
    lines_caps, lines_spill = [], []
    for c in caps:
        body.append(f'cap_{c.capability} {_attrs(label=_label(c.label, 16, "CAPABILITY", f"({c.proposition})"), fillcolor=FILL_OUTCOME, color=ORANGE)};')
        body.append(f'synergy -> cap_{c.capability} [color="{ORANGE}", penwidth=1.3];')
        lines_caps.append(f"Synergy makes a superior capability possible: {c.label} ({c.proposition}).")
    label_of = {c.capability: c.label for c in caps}
    # a capability outside every spill-over goes a row lower, so no row holds more than two
    linked = {c.capability for c in caps if split_tokens(c.spills_over_to)} | {x for c in caps for x in split_tokens(c.spills_over_to)}
    for c in caps:
        if c.capability not in linked and linked:
            body.append(f"cap_{caps[0].capability} -> cap_{c.capability} [style=invis];")
    for c in caps:
        for target in split_tokens(c.spills_over_to):
            body.append(f'cap_{c.capability} -> cap_{target} [style=dashed, color="{GREEN}", label="may"];')
            lines_spill.append(f"{c.label} may carry over to: {label_of[target]} (Contributions).")
    sections = (
        ("Eight synergistic levers (Table 2; P1–P5)",
         tuple(f"{lv.label}: {lv.definition}" for lv in levers)
         + ("Integrated levers let the sales–marketing interface function at its best (P1–P5).",)),
        ("SMI functioning and synergy (P1–P5)",
         ("An interface that functions at its best builds synergy across the firm's functions (P1–P5).",
          f"Other functions at the interface, working in coordination with sales and marketing: {others} "
          f"({OTHER_FUNCTIONS_SOURCE}).")),
        ("Five market-based capabilities (P1–P5)", tuple(lines_caps)),
        ("Spill-overs between capabilities (Contributions, not a proposition)", tuple(lines_spill)),
    )
    summary = ("Diagram of Hughes, Le Bon and Malshe (2012)'s framework: eight synergistic levers, integrated, "
               "let the sales–marketing interface function at its best; that builds synergy across functions, "
               "with the other functions at the interface; synergy makes five superior market-based capabilities "
               "possible (P1–P5); dashed arrows are the spill-overs between capabilities the Contributions "
               "section says may occur. The book's weights and its ceiling on capabilities are not shown.")
    return Diagram("hughes2012", "Levers, synergy and capabilities (Hughes et al. 2012)",
                   _graph("hughes2012", body), summary, sections)


# --------------------------------------------------------------------------- Malshe et al. (2017)

STAGE_HEAD = {"trigger": "TRIGGER", "situational_meaning": "SITUATIONAL MEANING",
              "existential_meaning": "EXISTENTIAL MEANING", "response": "RESPONSE"}


def _dysfunction_titles(sm) -> dict[str, tuple[str, str]]:
    """Dysfunction -> (section, title) from the trigger rows' first source ("§3.1 Communication paucity")."""
    out = {}
    for d, rows in sm.groupby("dysfunction", sort=False):
        first = rows["source_section"].iloc[0].split(";")[0].strip()
        section, title = first.split(" ", 1)
        out[d] = (section, title)
    return out


def malshe2017(theory=None) -> Diagram:
    """Per dysfunction and side: trigger -> situational meaning -> existential meaning -> response,
    and the dysfunctions each response may feed; the P7 progression paths on top."""
    t = _theory(theory)
    sm = t.sensemaking
    titles = _dysfunction_titles(sm)
    order = list(titles)
    body = ["subgraph cluster_p7 {",
            f'  label={_label("P7: the dysfunctions may follow one another in either direction (§3.4)", 44)}; '
            f'labeljust=l; style="rounded"; color="{GREY}";']
    for d in order:
        body.append(f'  dys_{d} {_attrs(label=_label(titles[d][1], 14), fillcolor=FILL_OUTCOME, color=ORANGE)};')
    p7_lines = []
    for a, b in P7_PATHS_2017:
        body.append(f'  dys_{a} -> dys_{b} [style=dashed, label="may"];')
        p7_lines.append(f"{titles[a][1]} may lead to {titles[b][1].lower()} (§3.4).")
    body.append("}")
    sections = [("Progression of the dysfunctions (P7)", tuple(p7_lines))]
    # each panel is stacked below the previous one, side under side (a phone-width layout)
    above = {side: [f"dys_{d}" for d in order] for side in sm["side"].unique()}
    for d in order:
        rows = sm[sm["dysfunction"] == d]
        section, title = titles[d]
        props = " and ".join(f"{p} ({side})" for side, p in rows.groupby("side", sort=False)["proposition"].first().items())
        body.append(f"subgraph cluster_{d} {{")
        body.append(f'  label={_label(f"{title} ({section}; {props})", 44)}; labeljust=l; style="rounded"; color="{GREY}";')
        lines = []
        firsts = []
        lasts, stack = {}, []
        for side, chain in rows.groupby("side", sort=False):
            chain = chain.set_index("stage").loc[list(STAGE_HEAD)]
            ids = [f"{d}_{side}_{stage}" for stage in chain.index]
            described = []
            for nid, (stage, r) in zip(ids, chain.iterrows()):
                ref = r["proposition"] + r["item"]
                note = f"({ref}; falls)" if r.polarity == "falls" else f"({ref})"
                head = f"{side.upper()}: {STAGE_HEAD[stage]}" if stage == "trigger" else STAGE_HEAD[stage]
                body.append(f'  {nid} {_attrs(label=_label(r.label, 22, head, note), fillcolor=FILL_DRIVER if stage == "trigger" else "white", color=BLUE)};')
                verb = " (falls as the dysfunction grows)" if r.polarity == "falls" else ""
                described.append(f"{STAGE_HEAD[stage].lower()}: {r.label}{verb} ({ref})")
            for a, b in zip(ids, ids[1:]):
                body.append(f"  {a} -> {b};")
            fed = split_tokens(chain.loc["response", "feeds"])
            if fed:
                names = "; ".join(titles[f][1].lower() for f in fed)
                body.append(f'  {d}_{side}_feeds {_attrs(label=_label(names, 22, "MAY FEED"), fillcolor=FILL_NOTE, style="rounded,filled,dashed")};')
                body.append(f'  {ids[-1]} -> {d}_{side}_feeds [style=dashed];')
                described.append(f"the response may feed: {names}")
            firsts.append(ids[0])
            for a in above[side]:
                stack.append(f"{a} -> {ids[0]} [style=invis, weight=10];")
            lasts[side] = [f"{d}_{side}_feeds" if fed else ids[-1]]
            lines.append(f"{side.capitalize()}: " + " → ".join(described) + ".")
        body.append("  {rank=same; " + " ".join(f"{f};" for f in firsts) + "}")
        body.append("}")
        body.extend(stack)  # outside the cluster: an edge inside it would pull its nodes in
        above = lasts
        sections.append((f"{title} ({section}; {props})", tuple(lines)))
    summary = ("Diagram of Malshe, Johnson and Viio (2017): for each of the three dysfunctions (communication "
               "paucity, lack of collaboration, overt conflict), how salespeople and marketers each make sense of "
               "it, from the trigger through a situational and an existential meaning to a response (P1–P6), "
               "which may feed the same or another dysfunction (§4.1–4.2); on top, the progression paths the "
               "study reports for P7, each hedged with “may” (§3.4). The book's timing and weights are not shown.")
    return Diagram("malshe2017", "How each side makes sense of a dysfunction (Malshe et al. 2017)",
                   _graph("malshe2017", body), summary, tuple(sections))


BUILDERS = {"malshe2011": malshe2011, "hughes2012": hughes2012, "malshe2017": malshe2017}


def diagram(study: str, theory=None) -> Diagram:
    if study not in BUILDERS:
        raise ValueError(f"unknown study {study!r}: one of {', '.join(BUILDERS)}")
    return BUILDERS[study](theory)


def text_alternative_html(d: Diagram) -> str:
    """The text alternative as a <details> block (opened for print by scripts/build_pdf.py)."""
    return render("diagram_text.html.j2", summary=d.summary, sections=d.sections)


# the data files each diagram is drawn from (the directive rebuilds a page when one changes)
SOURCES = {"malshe2011": ("linkages.csv", "inputs.csv", "propositions.csv"),
           "hughes2012": ("levers.csv", "capabilities.csv"),
           "malshe2017": ("sensemaking.csv",)}
