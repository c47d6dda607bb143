"""Dysfunction simulator (Malshe, Johnson & Viio 2017): run the dysfunctions forward in time,
see how each side reads and answers them, try interventions, compare two runs."""
from __future__ import annotations

import html

import altair as alt
import ipywidgets as W
import pandas as pd

import smi
from smi.data import DYSFUNCTIONS
from smi.dynamics import SUMMARY_OUTPUTS
from smi_charts import charts

from .common import Lab, chart_box, svg, table_html

SERIES = [*DYSFUNCTIONS, "smi_functioning"]
STAGE_NAMES = {"situational_meaning": "situational meaning", "existential_meaning": "existential meaning",
               "response": "response"}


class DysfunctionLab(Lab):
    title = "Dysfunction simulator: Malshe, Johnson & Viio (2017)"
    export_name = "dysfunction_run.csv"

    def __init__(self, theory=None):
        theory = theory or smi.load()
        self.inputs = theory.input_names("dynamics")
        self.outputs = list(SUMMARY_OUTPUTS)
        super().__init__(theory)
        self.quarters = int(self.theory.param("simulation.quarters"))
        self.sim = self._simulate()
        self.run_b: pd.DataFrame | None = None
        self.run_b_label = ""
        self.chart = alt.JupyterChart(self._trajectory(), embed_options={"actions": False})
        self.keep = W.Button(description="Keep this run as B", tooltip="Freeze the current run to compare against",
                             icon="thumb-tack")
        self.clear = W.Button(description="Clear run B", tooltip="Stop comparing")
        self.keep.on_click(lambda _: self.keep_run())
        self.clear.on_click(lambda _: self.clear_run())
        self.quarter = W.IntSlider(value=8, min=0, max=self.quarters, description="Quarter to inspect",
                                   tooltip="The quarter whose sensemaking is shown side by side",
                                   style={"description_width": "initial"}, continuous_update=False)
        self.sides = W.HTML()
        self.quarter.observe(lambda ch: self.update_sides(), names="value")
        spec = self.theory.inputs.set_index("name")
        starts = [n for n in self.inputs if spec.loc[n, "kind"] == "start"]
        ivs = [n for n in self.inputs if spec.loc[n, "kind"] in ("intervention", "start_quarter")]
        acc = W.Accordion(children=[
            W.VBox([self.controls[n] for n in starts] + [self.controls["incremental_effects"]]),
            W.VBox([W.HTML("<p>A function-level fix works on the dysfunctions; openness, joint customer calls and "
                           "job rotation damp how individuals read them (2017 §4.2). Each has a strength and a "
                           "start quarter.</p>")] + [self.controls[n] for n in ivs]),
            W.VBox([self.keep, self.clear]),
        ])
        for i, t in enumerate(["Starting point", "Interventions", "Compare two runs"]):
            acc.set_title(i, t)
        acc.selected_index = 0
        self.root = self.layout(acc, chart_box(self.chart),
                                extra=[("Sales vs marketing", W.VBox([self.quarter, self.sides]))])
        self.tabs.observe(lambda ch: self.update_sides() if ch["new"] == 4 else None, names="selected_index")

    def _simulate(self) -> pd.DataFrame:
        return smi.simulate(self.scenario(), quarters=self.quarters, theory=self.theory)

    def _trajectory(self) -> alt.Chart:
        runs = {"Current run": self.sim}
        if self.run_b is not None:
            runs[f"Run B ({self.run_b_label})"] = self.run_b
        return charts.trajectory_chart(runs, SERIES, "Dysfunctions and SMI functioning over time", self.theory)

    def update_main(self) -> None:
        self.sim = self._simulate()
        self.chart.chart = self._trajectory()
        if self.tabs is not None and self.tabs.selected_index == 4:
            self.update_sides()

    def rebuild_main(self) -> None:
        pass  # update_main already sends a whole new chart

    def keep_run(self) -> None:
        self.run_b = self.sim
        self.run_b_label = ", ".join(f"{self.theory.inputs.set_index('name').loc[n, 'label']} {self.values[n]}"
                                     for n in self.inputs if self.values[n] != self.theory.defaults[n]) or "defaults"
        self.chart.chart = self._trajectory()

    def clear_run(self) -> None:
        self.run_b = None
        self.chart.chart = self._trajectory()

    def result_frame(self) -> pd.DataFrame:
        summary = smi.summarize(self.scenario(), quarters=self.quarters, theory=self.theory).iloc[0]
        labels = dict(zip(smi.outputs(self.theory).output, smi.outputs(self.theory).label))
        last = self.sim.iloc[-1]
        rows = [(labels[o], float(summary[o])) for o in SUMMARY_OUTPUTS]
        rows += [(f"{charts.SERIES[s]} in quarter {self.quarters}", float(last[s])) for s in SERIES]
        return pd.DataFrame(rows, columns=["output", "value"])

    def export_frame(self) -> pd.DataFrame:
        base = super().export_frame()
        traj = self.sim[["quarter", *SERIES]].melt(id_vars="quarter", var_name="name", value_name="value")
        traj["kind"] = "trajectory"
        traj["name"] = traj.name + "@q" + traj.quarter.astype(str)
        return pd.concat([base, traj[["kind", "name", "value"]]], ignore_index=True)

    def update_sides(self) -> None:
        q = self.quarter.value
        row = self.sim[self.sim.quarter == q].iloc[0]
        sm = self.theory.sensemaking
        rows = []
        for r in sm[sm.stage != "trigger"].itertuples():
            rows.append({"side": r.side, "dysfunction": r.dysfunction.replace("_", " "), "stage": STAGE_NAMES[r.stage],
                         "label": f"{r.label} ({r.dysfunction.replace('_', ' ')})", "value": float(row[r.construct])})
        df = pd.DataFrame(rows)
        self.sides.value = (
            f"<p>Quarter {q}: communication paucity {row.communication_paucity:.2f}, lack of collaboration "
            f"{row.lack_of_collaboration:.2f}, overt conflict {row.overt_conflict:.2f}. Constructs that fall as a "
            "dysfunction grows (sales' view of marketing's customer orientation, marketing's hopefulness) are shown as read.</p>"
            + svg(charts.sensemaking_chart(df, f"How each side reads and answers the dysfunctions, quarter {q}"))
            + table_html(df[["side", "label", "stage", "value"]], f"Sensemaking at quarter {q}"))


def dysfunction_lab() -> DysfunctionLab:
    from .common import run
    return run(DysfunctionLab)
