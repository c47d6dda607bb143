"""One property test per proposition of the three studies (see shared/THEORY.md, "What the
model must obey"). Each test names its study and proposition; hypothesis draws scenarios
across the whole input space from data/inputs.csv.
"""
from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
from hypothesis import assume, given
from hypothesis import strategies as st

import smi
from smi.data import CAPABILITIES, DYSFUNCTIONS, LEVERS

from .conftest import THEORY, UNIT, frame, scenarios

TOL = 1e-12


def _out(rows: list[dict], col: str) -> np.ndarray:
    return smi.evaluate(pd.DataFrame(rows))[col].to_numpy()


def _with(row: dict, **kw) -> dict:
    return {**row, **kw}


def _proviso_shape(row: dict, *, driver: str, proviso: str, context: str | None, linkage: str,
                   lo: float, hi: float, p_lo: float, p_hi: float, c_lo: float, c_hi: float) -> None:
    """The shape every 2011 proviso must have:
    1. the driver never weakens the linkage, nor the overall connection;
    2. its effect shrinks as the proviso weakens;
    3. (with a context) that shrinking grows with the context: the share of the driver's effect
       that survives a weak proviso is smaller where the context is stronger. (Relative, since
       a deeper hierarchy also tightens the driver's other provisos.)
    """
    def effect(**kw) -> float:
        a, b = _out([_with(row, **kw, **{driver: lo}), _with(row, **kw, **{driver: hi})], linkage)
        return b - a

    def conn_effect(**kw) -> float:
        a, b = _out([_with(row, **kw, **{driver: lo}), _with(row, **kw, **{driver: hi})], "smi_connection")
        return b - a

    assert effect() >= -TOL and conn_effect() >= -TOL
    assert effect(**{proviso: p_lo}) <= effect(**{proviso: p_hi}) + TOL
    if context:
        weak_flat, strong_flat = effect(**{proviso: p_lo, context: c_lo}), effect(**{proviso: p_hi, context: c_lo})
        weak_deep, strong_deep = effect(**{proviso: p_lo, context: c_hi}), effect(**{proviso: p_hi, context: c_hi})
        # weak_deep / strong_deep <= weak_flat / strong_flat, cross-multiplied (no division by 0)
        assert weak_deep * strong_flat <= weak_flat * strong_deep + TOL


def _pairs():
    return st.tuples(UNIT, UNIT).map(sorted)


# ----------------------------------------------------------------------------- Malshe 2011

@given(scenarios("linkages"), _pairs(), _pairs(), _pairs(), _pairs())
def test_malshe2011_P1_key_terms_need_vertical_and_horizontal_communication(row, k, v, h, c):
    """P1: agreement on key terms strengthens the connection provided (a) vertical communication
    and (b) horizontal bridges; both bind harder the deeper the hierarchy."""
    for proviso, pair in (("vertical_communication", v), ("horizontal_bridges", h)):
        _proviso_shape(row, driver="key_terms", proviso=proviso, context="hierarchy_depth", linkage="language",
                       lo=k[0], hi=k[1], p_lo=pair[0], p_hi=pair[1], c_lo=c[0], c_hi=c[1])


@given(scenarios("linkages"))
def test_malshe2011_P1_vertical_communication_barely_matters_in_a_flat_firm(row):
    """P1(a): in a flat firm weak vertical communication costs little; in a deep one it binds."""
    assume(row["key_terms"] > 0.05)
    def loss(depth: float) -> float:
        strong, weak = _out([_with(row, vertical_communication=1.0, hierarchy_depth=depth),
                             _with(row, vertical_communication=0.0, hierarchy_depth=depth)], "language")
        return (strong - weak) / strong if strong > 0 else 0.0
    assert loss(0.0) <= 0.2
    assert loss(1.0) >= 0.8 or _out([_with(row, vertical_communication=1.0, hierarchy_depth=1.0)], "language")[0] == 0


@given(scenarios("linkages"), _pairs(), _pairs(), _pairs())
def test_malshe2011_P2_key_terms_need_two_way_channels_over_long_strategies(row, k, p, c):
    """P2: agreement on key terms helps provided open two-way channels allow redefinition;
    binding harder the longer the strategy horizon."""
    _proviso_shape(row, driver="key_terms", proviso="two_way_channels", context="strategy_horizon", linkage="language",
                   lo=k[0], hi=k[1], p_lo=p[0], p_hi=p[1], c_lo=c[0], c_hi=c[1])


@given(scenarios("linkages"), _pairs(), _pairs(), _pairs())
def test_malshe2011_P3_single_process_needs_flexibility(row, k, p, c):
    """P3: a single demand-generation process helps provided both sides stay flexible about
    deviations; binding harder the more the regions differ."""
    _proviso_shape(row, driver="single_process", proviso="flexibility", context="regional_heterogeneity",
                   linkage="structure", lo=k[0], hi=k[1], p_lo=p[0], p_hi=p[1], c_lo=c[0], c_hi=c[1])


@given(scenarios("linkages"), _pairs(), _pairs(), _pairs())
def test_malshe2011_P4_single_process_needs_ownership_at_every_level(row, k, p, c):
    """P4: a single process helps provided every level owns it; binding harder in a deep hierarchy."""
    _proviso_shape(row, driver="single_process", proviso="ownership", context="hierarchy_depth",
                   linkage="structure", lo=k[0], hi=k[1], p_lo=p[0], p_hi=p[1], c_lo=c[0], c_hi=c[1])


@given(scenarios("linkages"), _pairs(), _pairs())
def test_malshe2011_P5_joint_teams_need_visibility(row, k, p):
    """P5: joint teams help provided the teams and their work are visible."""
    _proviso_shape(row, driver="joint_teams", proviso="team_visibility", context=None, linkage="process",
                   lo=k[0], hi=k[1], p_lo=p[0], p_hi=p[1], c_lo=0, c_hi=0)


def _strictly_rising(row: dict, inputs: list[str], linkage: str, a: float, b: float) -> None:
    assume(b - a > 1e-6)
    for name in inputs:
        lo, hi = _out([_with(row, **{name: a}), _with(row, **{name: b})], linkage)
        c_lo, c_hi = _out([_with(row, **{name: a}), _with(row, **{name: b})], "smi_connection")
        assert hi > lo and c_hi > c_lo, name


@given(scenarios("linkages"), _pairs())
def test_malshe2011_P6_rapport_and_informal_networks_build_the_social_linkage(row, pair):
    """P6: personal rapport and informal networks each strengthen the social linkage, and the
    social linkage strengthens the connection."""
    _strictly_rising(row, ["rapport", "informal_networks"], "social", *pair)


@given(scenarios("linkages"), _pairs())
def test_malshe2011_P7_customer_first_goals_and_partnership_build_the_philosophical_linkage(row, pair):
    """P7: customers first (a), organizational over functional goals (b) and seeing the other
    function as partner (c) each strengthen the philosophical linkage and the connection."""
    _strictly_rising(row, ["customer_first", "org_goals_first", "partner_view"], "philosophical", *pair)


# ----------------------------------------------------------------------------- Hughes et al. 2012

def _capability_property(capability: str, row: dict, lever: str, pair: tuple[float, float]) -> None:
    """Every 2012 proposition: integrated levers -> SMI functioning -> synergy -> capability.
    The capability is non-decreasing in each lever and in the SMI connection, never exceeds
    SMI functioning, and is nil when the SMI is broken however strong the levers."""
    a, b = pair
    lo, hi = _out([_with(row, **{lever: a}), _with(row, **{lever: b})], capability)
    assert hi >= lo - TOL
    res = smi.evaluate(frame(row)).iloc[0]
    assert res[capability] <= res["smi_functioning"] + TOL
    conn_lo, conn_hi = smi.capabilities(pd.DataFrame([_with(row, smi_connection=a), _with(row, smi_connection=b)]))[capability]
    assert conn_hi >= conn_lo - TOL
    broken = smi.capabilities(pd.DataFrame([{**{lv: 1.0 for lv in LEVERS}, "smi_connection": 0.0}]))
    assert broken[capability].iloc[0] == 0.0


_CAP_BY_P = dict(zip(THEORY.capabilities.proposition, THEORY.capabilities.capability))


@given(scenarios(), st.sampled_from(LEVERS), _pairs())
def test_hughes2012_P1(row, lever, pair):
    """P1: integrated levers condition SMI functioning -> synergy -> superior capability (P1's capability)."""
    _capability_property(_CAP_BY_P["P1"], row, lever, pair)


@given(scenarios(), st.sampled_from(LEVERS), _pairs())
def test_hughes2012_P2(row, lever, pair):
    """P2: the same chain for P2's capability."""
    _capability_property(_CAP_BY_P["P2"], row, lever, pair)


@given(scenarios(), st.sampled_from(LEVERS), _pairs())
def test_hughes2012_P3(row, lever, pair):
    """P3: the same chain for P3's capability."""
    _capability_property(_CAP_BY_P["P3"], row, lever, pair)


@given(scenarios(), st.sampled_from(LEVERS), _pairs())
def test_hughes2012_P4(row, lever, pair):
    """P4: the same chain for P4's capability."""
    _capability_property(_CAP_BY_P["P4"], row, lever, pair)


@given(scenarios(), st.sampled_from(LEVERS), _pairs())
def test_hughes2012_P5(row, lever, pair):
    """P5: the same chain for P5's capability."""
    _capability_property(_CAP_BY_P["P5"], row, lever, pair)


def test_hughes2012_propositions_cover_every_capability():
    assert sorted(_CAP_BY_P) == ["P1", "P2", "P3", "P4", "P5"]
    assert sorted(_CAP_BY_P.values()) == sorted(CAPABILITIES)


_NO_SPILL = dataclasses.replace(
    THEORY, parameters=THEORY.parameters.assign(
        value=np.where(THEORY.parameters.name == "spillover.strength", 0.0, THEORY.parameters.value)))


@given(scenarios(), _pairs())
def test_hughes2012_spillovers_weak_sources_drag_their_targets(row, pair):
    """Capabilities feed each other (sensing -> NPD, supply chain, CRM; weak CRM hurts
    forecasting for supply chain and NPD): a spill-over only ever drags a target down, and
    the weaker the SMI (so the weaker its sources), the larger the drag."""
    a, b = pair
    assume(b - a > 1e-3 and a > 1e-3)
    rows = pd.DataFrame([_with(row, smi_connection=a), _with(row, smi_connection=b)])
    with_spill, without = smi.capabilities(rows), smi.capabilities(rows, _NO_SPILL)
    caps = THEORY.capabilities.set_index("capability")
    targets = {t for s in caps.spills_over_to for t in s.split("|") if t}
    assert targets, "capabilities.csv states spill-overs"
    for t in targets:
        ratio = (with_spill[t] / without[t]).to_numpy()
        assert (ratio <= 1 + TOL).all(), t
        assert ratio[0] <= ratio[1] + TOL, t


# ----------------------------------------------------------------------------- Malshe et al. 2017

def _sim(rows: list[dict]) -> pd.DataFrame:
    return smi.simulate(pd.DataFrame(rows), quarters=12)


def _sensemaking_property(proposition: str, row: dict, pair: tuple[float, float]) -> None:
    """The side's situational meaning, existential meaning and response rise with the
    dysfunction that triggers them ("falls" constructs fall), at every quarter."""
    sm = THEORY.sensemaking
    rows = sm[(sm.proposition == proposition) & (sm.stage != "trigger")]
    dysfunction = rows.dysfunction.iloc[0]
    a, b = pair
    assume(b - a > 1e-3)
    sim = _sim([_with(row, **{f"start_{dysfunction}": a}), _with(row, **{f"start_{dysfunction}": b})])
    low, high = sim[sim.run == 0].reset_index(drop=True), sim[sim.run == 1].reset_index(drop=True)
    assert len(rows) == 3
    for r in rows.itertuples():
        sign = 1.0 if r.polarity == "rises" else -1.0
        assert (sign * (high[r.construct] - low[r.construct]) >= -TOL).all(), r.construct


@given(scenarios(), _pairs())
def test_malshe2017_P1_sales_reading_of_communication_paucity(row, pair):
    """P1: communication paucity -> sales feel undervalued, ostracized; respond with active ignorance."""
    _sensemaking_property("P1", row, pair)


@given(scenarios(), _pairs())
def test_malshe2017_P2_marketing_reading_of_communication_paucity(row, pair):
    """P2: communication paucity -> marketing sees "autonomy overkill", feels a nuisance; usurps."""
    _sensemaking_property("P2", row, pair)


@given(scenarios(), _pairs())
def test_malshe2017_P3_sales_reading_of_lack_of_collaboration(row, pair):
    """P3: lack of collaboration -> sales see marketing as less customer-oriented, feel role
    conflict; learn lone-wolfism."""
    _sensemaking_property("P3", row, pair)


@given(scenarios(), _pairs())
def test_malshe2017_P4_marketing_reading_of_lack_of_collaboration(row, pair):
    """P4: lack of collaboration -> marketing finds strategy making futile, feels rudderless;
    learns skepticism."""
    _sensemaking_property("P4", row, pair)


@given(scenarios(), _pairs())
def test_malshe2017_P5_sales_reading_of_overt_conflict(row, pair):
    """P5: overt conflict -> sales read strategic submissiveness, marketing's superiority;
    protect their own interests."""
    _sensemaking_property("P5", row, pair)


@given(scenarios(), _pairs())
def test_malshe2017_P6_marketing_reading_of_overt_conflict(row, pair):
    """P6: overt conflict -> marketing feels singled out, loses hope; reallocates effort inefficiently."""
    _sensemaking_property("P6", row, pair)


@given(scenarios("linkages"), st.sampled_from(DYSFUNCTIONS), st.floats(0.05, 1.0))
def test_malshe2017_P7_bidirectional_circularity(row, start, level):
    """P7: started from any single dysfunction, the other two rise; each can raise each other."""
    row = {**row, **{f"start_{d}": 0.0 for d in DYSFUNCTIONS}, f"start_{start}": level}
    sim = _sim([row])
    q1 = sim[sim.quarter == 1].iloc[0]
    for other in DYSFUNCTIONS:
        if other != start:
            assert q1[other] > 0.0, other


@given(scenarios(), st.integers(0, 20), st.integers(1, 20))
def test_malshe2017_implication_early_beats_late(row, early, delay):
    """Prevention is easier than repair: the same interventions started earlier leave no more
    cumulative dysfunction than started later."""
    late = early + delay
    starts = ("function_fix_start", "openness_start", "joint_calls_start", "job_rotation_start")
    e = _with(row, **{s: early for s in starts})
    l_ = _with(row, **{s: late for s in starts})
    out = smi.summarize(pd.DataFrame([e, l_]), quarters=24)
    assert out.cumulative_dysfunction.iloc[0] <= out.cumulative_dysfunction.iloc[1] + TOL


@given(scenarios(), st.floats(0.1, 1.0), st.sampled_from(["openness", "joint_calls", "job_rotation"]), st.floats(0.1, 1.0))
def test_malshe2017_implication_fix_that_also_damps_sensemaking_helps_more(row, fix, measure, strength):
    """A function-level fix that leaves the sensemaking loop alone helps less than the same fix
    together with a measure that damps individual sensemaking."""
    assume(sum(row[f"start_{d}"] for d in DYSFUNCTIONS) > 0.05)
    # both start within the 24 simulated quarters
    alone = _with(row, function_fix=fix, function_fix_start=min(row["function_fix_start"], 20),
                  openness=0.0, joint_calls=0.0, job_rotation=0.0)
    both = _with(alone, **{measure: strength, f"{measure}_start": alone["function_fix_start"]})
    out = smi.summarize(pd.DataFrame([alone, both]), quarters=24)
    assert out.cumulative_dysfunction.iloc[1] < out.cumulative_dysfunction.iloc[0]


@given(scenarios(), st.sampled_from(DYSFUNCTIONS), _pairs())
def test_malshe2017_dysfunctions_erode_linkages_and_functioning(row, dysfunction, pair):
    """The dysfunctions weaken the linkages and SMI functioning over time: more of any starting
    dysfunction never leaves higher functioning, and functioning never exceeds the firm's
    undisturbed potential."""
    a, b = pair
    sim = _sim([_with(row, **{f"start_{dysfunction}": a}), _with(row, **{f"start_{dysfunction}": b})])
    low, high = sim[sim.run == 0].reset_index(drop=True), sim[sim.run == 1].reset_index(drop=True)
    for col in ("smi_connection", "smi_functioning", "language", "social"):
        assert (high[col] <= low[col] + TOL).all(), col
    assert (sim.smi_functioning <= sim.functioning_potential + TOL).all()


@given(scenarios())
def test_malshe2017_incremental_effects_switch_orders_the_damage(row):
    """Future research (2017 §4.3): with intensities below 1, an increasing incremental-effects
    curve does less harm than a linear one, which does less than a decreasing one."""
    rows = [_with(row, incremental_effects=k) for k in ("increasing", "linear", "decreasing")]
    cum = smi.summarize(pd.DataFrame(rows), quarters=16).cumulative_dysfunction.to_numpy()
    assert cum[0] <= cum[1] + TOL and cum[1] <= cum[2] + TOL
