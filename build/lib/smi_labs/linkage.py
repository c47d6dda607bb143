"""Linkage lab (Malshe 2011): boundary conditions, drivers and context -> five linkages."""
from __future__ import annotations

import altair as alt
import ipywidgets as W
import pandas as pd

import smi
from smi.data import LINKAGES, _split
from smi_charts import charts

from .common import Lab, chart_box


class LinkageLab(Lab):
    title = "Linkage lab: Malshe (2011), five key connections"
    export_name = "linkage_scenario.csv"

    def __init__(self, theory=None):
        theory = theory or smi.load()
        self.inputs = theory.input_names("linkages")
        self.outputs = [*LINKAGES, "smi_connection"]
        super().__init__(theory)
        values = charts.default_values(None, self.theory)
        # the chart computes in the browser from the model's expressions; sliders set its params
        self.explorable = charts.explorable("linkages", self.inputs, values, "Linkage strengths", self.theory)
        self.chart = alt.JupyterChart(self.explorable.chart.properties(width=420), embed_options={"actions": False})
        spec = self.theory.inputs.set_index("name")
        groups = []
        for k in LINKAGES:
            names = [n for n in self.inputs if k in _split(spec.loc[n, "linkage"]) and spec.loc[n, "kind"] != "context"]
            groups.append((self.theory.linkages.set_index("linkage").loc[k, "label"], names))
        groups.append(("Context (boundary conditions)", [n for n in self.inputs if spec.loc[n, "kind"] == "context"]))
        acc = W.Accordion(children=[W.VBox([self.controls[n] for n in names]) for _, names in groups])
        for i, (title, _) in enumerate(groups):
            acc.set_title(i, title)
        acc.selected_index = 0
        self.root = self.layout(acc, chart_box(self.chart))

    def _main_chart(self) -> alt.Chart:
        # computed in the browser from the model's expressions; the lab's sliders set its params
        return charts.explorable("linkages", self.inputs, self.values, "Linkage strengths", self.theory, bind=False).chart.properties(width=420)

    def rebuild_main(self) -> None:
        self.chart.chart = self._main_chart()

    def update_main(self) -> None:
        with self.chart.hold_sync():
            for n in self.inputs:
                setattr(self.chart.params, n, float(self.values[n]))

    def result_frame(self) -> pd.DataFrame:
        res = smi.linkages(self.scenario(), self.theory).iloc[0]
        labels = charts.output_labels(self.theory)
        return pd.DataFrame({"output": [labels[o] for o in self.outputs], "value": [float(res[o]) for o in self.outputs]})


def linkage_lab() -> LinkageLab:
    from .common import run
    return run(LinkageLab)
