"""Capability lab (Hughes, Le Bon & Malshe 2012): levers and the SMI connection -> capabilities."""
from __future__ import annotations

import dataclasses

import altair as alt
import ipywidgets as W
import numpy as np
import pandas as pd

import smi
from smi.data import CAPABILITIES, LINKAGES
from smi_charts import charts

from .common import Lab, chart_box, svg


class CapabilityLab(Lab):
    title = "Capability lab: Hughes, Le Bon & Malshe (2012), eight levers and five capabilities"
    export_name = "capability_scenario.csv"

    def __init__(self, theory=None):
        theory = theory or smi.load()
        self.inputs = theory.input_names("capabilities") + theory.input_names("linkages")
        self.outputs = [*LINKAGES, "smi_connection", "lever_integration", "smi_functioning", "synergy", *CAPABILITIES]
        super().__init__(theory)
        self.chart = alt.JupyterChart(self._main_chart(), embed_options={"actions": False})
        self.explain_output.value = "market_sensing"
        levers = W.VBox([self.controls[n] for n in self.theory.input_names("capabilities")])
        linkage = W.VBox([W.HTML("<p>The SMI connection comes from the five linkages of Malshe (2011). "
                                 "Set them to zero to see strong levers around a broken SMI.</p>")]
                         + [self.controls[n] for n in self.theory.input_names("linkages")])
        acc = W.Accordion(children=[levers, linkage])
        acc.set_title(0, "The eight synergistic levers")
        acc.set_title(1, "The SMI connection (linkages)")
        acc.selected_index = 0
        self.spill = W.HTML()
        self.root = self.layout(acc, chart_box(self.chart), extra=[("Spill-overs", self.spill)])
        # a copy of the theory with spill-overs switched off, to show what they add or take away
        p = self.theory.parameters
        self._no_spill = dataclasses.replace(
            self.theory, parameters=p.assign(value=np.where(p.name == "spillover.strength", 0.0, p.value)))

    def _main_chart(self) -> alt.Chart:
        # computed in the browser from the model's expressions; the lab's sliders set its params
        return charts.explorable("chain", self.inputs, self.values, "From the SMI to capabilities", self.theory, bind=False).chart.properties(width=420)

    def rebuild_main(self) -> None:
        self.chart.chart = self._main_chart()

    def update_main(self) -> None:
        with self.chart.hold_sync():
            for n in self.inputs:
                setattr(self.chart.params, n, float(self.values[n]))

    def result_frame(self) -> pd.DataFrame:
        res = smi.evaluate(self.scenario(), self.theory).iloc[0]
        labels = charts.output_labels(self.theory)
        return pd.DataFrame({"output": [labels[o] for o in self.outputs], "value": [float(res[o]) for o in self.outputs]})

    def recompute(self) -> None:
        super().recompute()
        if self.tabs is not None and self.tabs.selected_index == 4:
            self.update_spill()

    def update_spill(self) -> None:
        res = smi.evaluate(self.scenario(), self.theory).iloc[0]
        alone = smi.evaluate(self.scenario(), self._no_spill).iloc[0]
        caps = self.theory.capabilities.set_index("capability")
        feeds = "; ".join(f"{caps.loc[c, 'label']} feeds {', '.join(caps.loc[t, 'label'] for t in caps.loc[c, 'spills_over_to'].split('|'))}"
                          for c in caps.index if caps.loc[c, "spills_over_to"])
        self.spill.value = (f"<p>Capabilities feed each other ({feeds}). A weak source drags the capabilities it feeds "
                            "down; the bars compare each capability with and without that drag.</p>"
                            + svg(charts.spillover_chart({c: res[c] for c in CAPABILITIES}, {c: alone[c] for c in CAPABILITIES},
                                                         "Capabilities with and without spill-overs", self.theory)))

    def layout(self, controls, main, extra=None):
        root = super().layout(controls, main, extra)
        self.tabs.observe(lambda ch: self.update_spill() if ch["new"] == 4 else None, names="selected_index")
        return root


def capability_lab() -> CapabilityLab:
    from .common import run
    return run(CapabilityLab)
