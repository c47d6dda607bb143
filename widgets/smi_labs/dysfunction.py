"""Dysfunction simulator (Malshe, Johnson & Viio 2017): run the dysfunctions forward in time,
see how each side reads and answers them, try interventions, compare two runs. Every line and
number comes with its band over the weight draws."""
from __future__ import annotations

import altair as alt
import ipywidgets as W
import numpy as np
import pandas as pd

import smi
from smi.data import DYSFUNCTIONS
from smi.dynamics import SUMMARY_OUTPUTS, summarize_core
from smi_charts import bands, charts

from .common import (Lab, LabResult, accordion, chart_box, lab_chart, num, panel, part, result_rows, svg, table_html,
                     unbound)
from .draws import how_often, spread

SERIES = [*DYSFUNCTIONS, "smi_functioning"]
STAGE_NAMES = {"situational_meaning": "situational meaning", "existential_meaning": "existential meaning",
               "response": "response"}
# how Malshe et al. (2017) class the measures (data/interventions.csv, column level), in the order shown
LEVELS = {
    "function": ("Function-level measures (§4.1)",
                 "Malshe et al. (2017, §4.1) class broad measures aimed at the functions, joint customer calls and "
                 "job rotation as function-level measures, which likely do not address how each person makes sense "
                 "of a dysfunction; §4.2 adds that joint calls and rotation may help build empathy."),
    "culture": ("Culture of openness (§4.2)",
                "§4.2: openness may help prevent dysfunctions, which may be easier than mending them, and help "
                "build empathy."),
    "individual": ("Customized to the individual (§4.2)",
                   "§4.2, the study's main prescription: approaches customized to each salesperson's and "
                   "marketer's dysfunction experience rather than broad function-level strategies."),
}
SIDES = "Sales vs marketing"  # the lab's own tab
SIZES_NOTE = "<p><em>How strongly each measure acts is the book's assumption; the studies give no sizes.</em></p>"


class DysfunctionLab(Lab):
    title = "Dysfunction simulator: Malshe, Johnson & Viio (2017)"
    export_name = "dysfunction_run.csv"

    def __init__(self, theory=None):
        theory = theory or smi.load()
        self.inputs = theory.input_names("dynamics")
        self.outputs = list(SUMMARY_OUTPUTS)
        super().__init__(theory)
        self.quarters = int(self.theory.param("simulation.quarters"))
        self.labels = {**dict(zip(smi.outputs(self.theory).output, smi.outputs(self.theory).label)), **charts.SERIES}
        self.run_b: pd.DataFrame | None = None
        self.run_b_cumulative: np.ndarray | None = None  # per weight set, for the comparison note
        self.run_b_label = ""
        self.chart = lab_chart(self._trajectory())
        self.keep = W.Button(description="Keep this run as B", tooltip="Freeze the current run to compare against",
                             icon="thumb-tack")
        self.clear = W.Button(description="Clear run B", tooltip="Stop comparing")
        self.keep.on_click(lambda _: self.keep_run())
        self.clear.on_click(lambda _: self.clear_run())
        self.quarter = W.IntSlider(value=8, min=0, max=self.quarters, description="Quarter to inspect",
                                   tooltip="The quarter whose sensemaking is shown side by side",
                                   continuous_update=False)
        self.sides = W.HTML()
        self.quarter.observe(lambda ch: self.update_sides(), names="value")
        spec = self.theory.inputs.set_index("name")
        starts = [n for n in self.inputs if spec.loc[n, "kind"] == "start"]
        acc = accordion([
            ("Starting point", [self.controls[n] for n in starts] + [self.controls["incremental_effects"]]),
            ("Interventions", self.intervention_controls() + [W.HTML(SIZES_NOTE)]),
            ("Compare two runs", [self.keep, self.clear]),
        ])
        self.interventions_pane = acc.children[1]
        self.root = self.layout(acc, chart_box(self.chart),
                                extra=[(SIDES, panel([self.quarter, self.sides]), self.update_sides)])

    def intervention_controls(self) -> list[W.Widget]:
        """Each measure's strength and start quarter, grouped by the level the study assigns it."""
        iv = self.theory.interventions
        unknown = sorted(set(iv.level) - set(LEVELS))
        if unknown:
            raise ValueError(f"interventions.csv: level {unknown[0]!r} has no heading in the dysfunction lab")
        out: list[W.Widget] = []
        for level, (heading, text) in LEVELS.items():
            names = list(iv[iv.level == level].intervention)
            if names:
                out.append(W.HTML(part("intervention_level", heading=heading, text=text)))
                out += [self.controls[c] for n in names for c in (n, f"{n}_start")]
        return out

    # -- model
    def compute(self) -> LabResult:
        a = self.draws.simulate(self.scenario(), self.quarters)  # (quarters + 1, K + 1)
        self.trajectories = a
        self.series_bands = {s: spread(a[s]) for s in SERIES}  # per quarter: value, low, high, ...
        # the current run at the shipped weights, as smi.simulate reports it
        self.sim = pd.DataFrame({"quarter": np.arange(self.quarters + 1), **{k: v[:, -1] for k, v in a.items()}})
        summary = summarize_core(a)
        final = {f"{s}@final": a[s][-1] for s in SERIES}
        labels = {**self.labels, **{f"{s}@final": f"{charts.SERIES[s]} in quarter {self.quarters}" for s in SERIES}}
        self.cumulative = summary["cumulative_dysfunction"]
        return LabResult(result_rows([*SUMMARY_OUTPUTS, *final], labels, {**summary, **final}), self._notes(a))

    def _notes(self, a: dict[str, np.ndarray]) -> list[str]:
        total = sum(a[d] for d in DYSFUNCTIONS)  # (quarters + 1, K + 1)
        change = total[-1] - total[0]
        word = np.where(change > 1e-6, "grows", np.where(change < -1e-6, "fades", "stays where it started"))
        agree = int((word[:-1] == word[-1]).sum())
        notes = [f"At the shipped weights the total dysfunction {word[-1]} over {self.quarters} quarters; it "
                 f"{word[-1]} {how_often(agree, self.draws.k)}."]
        if self.run_b_cumulative is not None:
            diff = self.cumulative - self.run_b_cumulative
            side = np.where(diff < -1e-9, "lower than", np.where(diff > 1e-9, "higher than", "the same as"))
            agree = int((side[:-1] == side[-1]).sum())
            notes.append(f"At the shipped weights this run's cumulative dysfunction is {side[-1]} run B's; it is so "
                         f"{how_often(agree, self.draws.k)}.")
        return notes

    # -- chart
    def _trajectory_value(self) -> dict:
        self.result()
        s = self.series_bands
        return bands.trajectory_value(*({n: s[n][c] for n in SERIES} for c in ("value", "low", "high")))

    def _trajectory(self) -> alt.TopLevelMixin:
        return bands.trajectory_band_chart(self.quarters, SERIES, self.labels, self._trajectory_value(),
                                           "Dysfunctions and SMI functioning over time", self.run_b,
                                           f"run B ({self.run_b_label})")

    def update_main(self) -> None:
        setattr(self.chart.params, bands.TRAJECTORY_PARAM, self._trajectory_value())

    def rebuild_main(self) -> None:
        self.chart.chart = unbound(self._trajectory())

    def keep_run(self) -> None:
        self.result()
        self.run_b = self.sim
        self.run_b_cumulative = self.cumulative
        self.run_b_label = ", ".join(f"{self.theory.inputs.set_index('name').loc[n, 'label']} {self.values[n]}"
                                     for n in self.inputs if self.values[n] != self.theory.defaults[n]) or "defaults"
        self._refresh_comparison()

    def clear_run(self) -> None:
        self.run_b = self.run_b_cumulative = None
        self._refresh_comparison()

    def _refresh_comparison(self) -> None:
        self._result_for = None  # the notes compare with run B
        self.rebuild_main()
        self.update_numbers()

    # -- tables
    def export_frame(self) -> pd.DataFrame:
        base = super().export_frame()
        b = self.series_bands
        traj = pd.DataFrame({"kind": "trajectory", "name": [f"{s}@q{q}" for s in SERIES for q in range(self.quarters + 1)],
                             **{c: np.concatenate([b[s][c] for s in SERIES]) for c in ("value", "low", "high")}})
        return pd.concat([base, traj], ignore_index=True)

    def update_sides(self) -> None:
        q = self.quarter.value
        self.result()
        row = self.sim[self.sim.quarter == q].iloc[0]
        sm = self.theory.sensemaking
        rows = []
        for r in sm[sm.stage != "trigger"].itertuples():
            b = spread(self.trajectories[r.construct][q])
            rows.append({"side": r.side, "dysfunction": r.dysfunction.replace("_", " "), "stage": STAGE_NAMES[r.stage],
                         "label": f"{r.label} ({r.dysfunction.replace('_', ' ')})", "value": float(b["value"]),
                         "low": float(b["low"]), "high": float(b["high"])})
        df = pd.DataFrame(rows)
        chart = bands.facet_with_band(charts.sensemaking_chart(df, f"How each side reads and answers the dysfunctions, quarter {q}"),
                                      alt.Y("label:N", sort=None))
        self.sides.value = (
            part("sides_summary", quarter=q, paucity=num(row.communication_paucity, ".2f"),
                 collaboration=num(row.lack_of_collaboration, ".2f"), conflict=num(row.overt_conflict, ".2f"))
            + svg(chart)
            + table_html(df[["side", "label", "stage", "value", "low", "high"]].rename(
                columns={"value": "value (shipped weights)", "low": "band low (5th percentile)",
                         "high": "band high (95th percentile)"}), f"Sensemaking at quarter {q}"))


def dysfunction_lab() -> DysfunctionLab:
    from .common import run
    return run(DysfunctionLab)
