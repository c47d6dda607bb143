"""Linkage lab (Malshe 2011): boundary conditions, drivers and context -> five linkages."""
from __future__ import annotations

import ipywidgets as W

import smi
from smi.data import LINKAGES, split_tokens

from .common import BarLab, accordion, chart_box

CONTEXT_NOTE = ("<p>Malshe (2011) names the organizational hierarchy and the unfolding of strategy as boundary "
                "conditions; grading them, and the need to adapt the common process, is the book's assumption.</p>")


class LinkageLab(BarLab):
    title = "Linkage lab: Malshe (2011), five key connections"
    export_name = "linkage_scenario.csv"
    kind = "linkages"
    chart_title = "Linkage strengths"
    ranked = LINKAGES
    ranked_as = "linkage"

    def __init__(self, theory=None):
        theory = theory or smi.load()
        self.inputs = theory.input_names("linkages")
        self.outputs = [*LINKAGES, "smi_connection"]
        super().__init__(theory)
        spec = self.theory.inputs.set_index("name")
        groups = []
        for k in LINKAGES:
            names = [n for n in self.inputs if k in split_tokens(spec.loc[n, "linkage"]) and spec.loc[n, "kind"] != "context"]
            groups.append((self.theory.linkages.set_index("linkage").loc[k, "label"], names))
        groups.append(("Context (boundary conditions)", [n for n in self.inputs if spec.loc[n, "kind"] == "context"]))
        panes = [(title, [self.controls[n] for n in names]) for title, names in groups]
        panes[-1][1].insert(0, W.HTML(CONTEXT_NOTE))
        self.root = self.layout(accordion(panes), chart_box(self.chart))


def linkage_lab() -> LinkageLab:
    from .common import run
    return run(LinkageLab)
