"""Capability lab (Hughes, Le Bon & Malshe 2012): levers and the SMI connection -> capabilities."""
from __future__ import annotations

import ipywidgets as W

import smi
from smi.data import CAPABILITIES, LINKAGES, split_tokens
from smi_charts import charts

from .common import BarLab, accordion, chart_box, part, svg

SPILL = "Spill-overs"  # the lab's own tab

LINKAGE_NOTE = ("<p>The SMI connection comes from the five linkages of Malshe (2011). SMI functioning mixes it with "
                "the levers' integration, the book's bridge between the two studies (an assumption): set the "
                "linkages to zero to see how far strong levers carry a weak connection.</p>")


class CapabilityLab(BarLab):
    title = "Capability lab: Hughes, Le Bon & Malshe (2012), eight levers and five capabilities"
    export_name = "capability_scenario.csv"
    kind = "chain"
    chart_title = "From the SMI to capabilities"
    ranked = CAPABILITIES
    ranked_as = "capability"

    def __init__(self, theory=None):
        theory = theory or smi.load()
        self.inputs = theory.input_names("capabilities") + theory.input_names("linkages")
        self.outputs = [*LINKAGES, "smi_connection", "lever_integration", "smi_functioning", "synergy", *CAPABILITIES]
        super().__init__(theory)
        self.explain_output.value = "market_sensing"
        acc = accordion([
            ("The eight synergistic levers", [self.controls[n] for n in self.theory.input_names("capabilities")]),
            ("The SMI connection (linkages)",
             [W.HTML(LINKAGE_NOTE)] + [self.controls[n] for n in self.theory.input_names("linkages")]),
        ])
        self.spill = W.HTML()
        self.root = self.layout(acc, chart_box(self.chart), extra=[(SPILL, self.spill, self.update_spill)])
        # the same weights with spill-overs switched off, to show what they add or take away
        self._no_spill = self.theory.with_params(**{"spillover.strength": 0.0})

    def update_spill(self) -> None:
        res = self.result().frame.set_index("output").value
        alone = smi.evaluate(self.scenario(), self._no_spill).iloc[0]
        caps = self.theory.capabilities.set_index("capability")
        feeds = [(caps.loc[c, "label"], [caps.loc[t, "label"] for t in split_tokens(caps.loc[c, "spills_over_to"])])
                 for c in caps.index if caps.loc[c, "spills_over_to"]]
        self.spill.value = (part("spill_note", feeds=feeds)
                            + svg(charts.spillover_chart({c: res[c] for c in CAPABILITIES}, {c: alone[c] for c in CAPABILITIES},
                                                         "Capabilities with and without spill-overs", self.theory)))


def capability_lab() -> CapabilityLab:
    from .common import run
    return run(CapabilityLab)
