"""One property test per proposition of the three studies. Each test names its study and
proposition; hypothesis draws scenarios across the whole input space from data/inputs.csv AND
the weights anywhere inside their hard bounds (``weights()``), so a direction holds for every
admissible weighting, not only the shipped one. The few tests that pin one of the book's own
readings (an assumption, e.g. how the book grades a boundary condition) say so and use the
shipped weights.
"""
from __future__ import annotations

import numpy as np
import pandas as pd
from hypothesis import assume, given
from hypothesis import strategies as st

import smi
from smi.data import CAPABILITIES, DYSFUNCTIONS, LEVERS

from .conftest import THEORY, UNIT, frame, scenarios, weights

TOL = 1e-12


def _out(rows: list[dict], col: str, theory=None) -> np.ndarray:
    return smi.evaluate(pd.DataFrame(rows), theory)[col].to_numpy()


def _with(row: dict, **kw) -> dict:
    return {**row, **kw}


def _proviso_shape(row: dict, *, driver: str, proviso: str, context: str | None, linkage: str,
                   lo: float, hi: float, p_lo: float, p_hi: float, c_lo: float, c_hi: float, theory=None) -> None:
    """The shape every 2011 proviso must have:
    1. the driver never weakens the linkage, nor the overall connection;
    2. its effect shrinks as the proviso weakens;
    3. (with a context) that shrinking grows with the context: the share of the driver's effect
       that survives a weak proviso is smaller where the context is stronger. (Relative, since
       a deeper hierarchy also tightens the driver's other provisos.)
    """
    def effect(**kw) -> float:
        a, b = _out([_with(row, **kw, **{driver: lo}), _with(row, **kw, **{driver: hi})], linkage, theory)
        return b - a

    def conn_effect(**kw) -> float:
        a, b = _out([_with(row, **kw, **{driver: lo}), _with(row, **kw, **{driver: hi})], "smi_connection", theory)
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

@given(weights(), scenarios("linkages"), _pairs(), _pairs(), _pairs(), _pairs())
def test_malshe2011_P1_key_terms_need_vertical_and_horizontal_communication(theory, row, k, v, h, c):
    """P1: agreement on key terms strengthens the connection provided (a) vertical communication
    and (b) horizontal bridges. (That they bind harder in a deeper hierarchy is the book's grading
    of the boundary condition; it holds for every admissible grading.)"""
    for proviso, pair in (("vertical_communication", v), ("horizontal_bridges", h)):
        _proviso_shape(row, driver="key_terms", proviso=proviso, context="hierarchy_depth", linkage="language",
                       lo=k[0], hi=k[1], p_lo=pair[0], p_hi=pair[1], c_lo=c[0], c_hi=c[1], theory=theory)


@given(scenarios("linkages"))
def test_book_grading_vertical_communication_barely_matters_with_few_levels(row):
    """The book's assumption (shipped weights), not the study's finding: Malshe (2011) names the
    hierarchy as P1's boundary condition but does not grade it; the book assumes weak vertical
    communication costs little with few levels and binds with many."""
    assume(row["key_terms"] > 0.05)
    def loss(depth: float) -> float:
        strong, weak = _out([_with(row, vertical_communication=1.0, hierarchy_depth=depth),
                             _with(row, vertical_communication=0.0, hierarchy_depth=depth)], "language")
        return (strong - weak) / strong if strong > 0 else 0.0
    assert loss(0.0) <= 0.2
    assert loss(1.0) >= 0.8 or _out([_with(row, vertical_communication=1.0, hierarchy_depth=1.0)], "language")[0] == 0


@given(weights(), scenarios("linkages"), _pairs(), _pairs(), _pairs())
def test_malshe2011_P2_key_terms_need_two_way_channels_over_long_strategies(theory, row, k, p, c):
    """P2: agreement on key terms helps provided open two-way channels allow redefinition;
    binding harder the longer the strategy horizon."""
    _proviso_shape(row, driver="key_terms", proviso="two_way_channels", context="strategy_horizon", linkage="language",
                   lo=k[0], hi=k[1], p_lo=p[0], p_hi=p[1], c_lo=c[0], c_hi=c[1], theory=theory)


@given(weights(), scenarios("linkages"), _pairs(), _pairs(), _pairs())
def test_malshe2011_P3_single_process_needs_flexibility(theory, row, k, p, c):
    """P3: a single demand-generation process helps provided both sides stay flexible about
    deviations; binding harder the more the regions differ."""
    _proviso_shape(row, driver="single_process", proviso="flexibility", context="regional_heterogeneity",
                   linkage="structure", lo=k[0], hi=k[1], p_lo=p[0], p_hi=p[1], c_lo=c[0], c_hi=c[1], theory=theory)


@given(weights(), scenarios("linkages"), _pairs(), _pairs(), _pairs())
def test_malshe2011_P4_single_process_needs_ownership_at_every_level(theory, row, k, p, c):
    """P4: a single process helps provided every level owns it; binding harder in a deep hierarchy."""
    _proviso_shape(row, driver="single_process", proviso="ownership", context="hierarchy_depth",
                   linkage="structure", lo=k[0], hi=k[1], p_lo=p[0], p_hi=p[1], c_lo=c[0], c_hi=c[1], theory=theory)


@given(weights(), scenarios("linkages"), _pairs(), _pairs())
def test_malshe2011_P5_joint_teams_need_visibility(theory, row, k, p):
    """P5: joint teams help provided the teams and their work are visible."""
    _proviso_shape(row, driver="joint_teams", proviso="team_visibility", context=None, linkage="process",
                   lo=k[0], hi=k[1], p_lo=p[0], p_hi=p[1], c_lo=0, c_hi=0, theory=theory)


def _rising(row: dict, inputs: list[str], linkage: str, a: float, b: float, theory) -> None:
    """Never weaker for any admissible weights; strictly stronger where the input's weight and
    its linkage's weight are positive (always so at the shipped weights)."""
    assume(b - a > 1e-6)
    for name in inputs:
        lo, hi = _out([_with(row, **{name: a}), _with(row, **{name: b})], linkage, theory)
        c_lo, c_hi = _out([_with(row, **{name: a}), _with(row, **{name: b})], "smi_connection", theory)
        assert hi >= lo - TOL and c_hi >= c_lo - TOL, name
        if theory.param(f"weight.{name}") > 0.01 and theory.param(f"weight.{linkage}") > 0.01:
            assert hi > lo and c_hi > c_lo, name
        s_lo, s_hi = _out([_with(row, **{name: a}), _with(row, **{name: b})], linkage)
        assert s_hi > s_lo, name  # shipped weights: strictly


@given(weights(), scenarios("linkages"), _pairs())
def test_malshe2011_P6_rapport_and_informal_networks_build_the_social_linkage(theory, row, pair):
    """P6: personal rapport and informal networks each strengthen the social linkage, and the
    social linkage strengthens the connection."""
    _rising(row, ["rapport", "informal_networks"], "social", *pair, theory)


@given(weights(), scenarios("linkages"), _pairs())
def test_malshe2011_P7_customer_first_goals_and_partnership_build_the_philosophical_linkage(theory, row, pair):
    """P7: customers first (a), organizational over functional goals (b) and seeing the other
    function as partner (c) each strengthen the philosophical linkage and the connection."""
    _rising(row, ["customer_first", "org_goals_first", "partner_view"], "philosophical", *pair, theory)


# ----------------------------------------------------------------------------- Hughes et al. 2012

def _capability_property(capability: str, theory, row: dict, lever: str, pair: tuple[float, float]) -> None:
    """Every 2012 proposition: integrated levers -> SMI functioning -> synergy -> capability.
    For any admissible weights the capability never falls when a lever or the SMI connection
    rises; at the shipped weights a lever the capability's section stresses raises it strictly."""
    a, b = pair
    lo, hi = _out([_with(row, **{lever: a}), _with(row, **{lever: b})], capability, theory)
    assert hi >= lo - TOL
    f_lo, f_hi = _out([_with(row, **{lever: a}), _with(row, **{lever: b})], "smi_functioning", theory)
    assert f_hi >= f_lo - TOL
    conn = smi.capabilities(pd.DataFrame([_with(row, smi_connection=a), _with(row, smi_connection=b)]), theory)[capability]
    assert conn.iloc[1] >= conn.iloc[0] - TOL
    stressed = THEORY.capabilities.set_index("capability").loc[capability, "stressed_levers"].split("|")
    if lever in stressed and b - a > 1e-3:
        s_lo, s_hi = _out([_with(row, **{lever: a}), _with(row, **{lever: b})], capability)
        assert s_hi > s_lo


_CAP_BY_P = dict(zip(THEORY.capabilities.proposition, THEORY.capabilities.capability))


@given(weights(), scenarios(), st.sampled_from(LEVERS), _pairs())
def test_hughes2012_P1(theory, row, lever, pair):
    """P1: integrated levers condition SMI functioning -> synergy -> superior capability (P1's capability)."""
    _capability_property(_CAP_BY_P["P1"], theory, row, lever, pair)


@given(weights(), scenarios(), st.sampled_from(LEVERS), _pairs())
def test_hughes2012_P2(theory, row, lever, pair):
    """P2: the same chain for P2's capability."""
    _capability_property(_CAP_BY_P["P2"], theory, row, lever, pair)


@given(weights(), scenarios(), st.sampled_from(LEVERS), _pairs())
def test_hughes2012_P3(theory, row, lever, pair):
    """P3: the same chain for P3's capability."""
    _capability_property(_CAP_BY_P["P3"], theory, row, lever, pair)


@given(weights(), scenarios(), st.sampled_from(LEVERS), _pairs())
def test_hughes2012_P4(theory, row, lever, pair):
    """P4: the same chain for P4's capability."""
    _capability_property(_CAP_BY_P["P4"], theory, row, lever, pair)


@given(weights(), scenarios(), st.sampled_from(LEVERS), _pairs())
def test_hughes2012_P5(theory, row, lever, pair):
    """P5: the same chain for P5's capability."""
    _capability_property(_CAP_BY_P["P5"], theory, row, lever, pair)


def test_hughes2012_propositions_cover_every_capability():
    assert sorted(_CAP_BY_P) == ["P1", "P2", "P3", "P4", "P5"]
    assert sorted(_CAP_BY_P.values()) == sorted(CAPABILITIES)


@given(weights(), scenarios())
def test_book_assumption_no_capability_exceeds_synergy(theory, row):
    """The book's modelling choice (relations.csv: capability_ceiling), not the paper's claim:
    for any admissible weights no capability exceeds cross-functional synergy."""
    res = smi.evaluate(frame(row), theory).iloc[0]
    for c in CAPABILITIES:
        assert res[c] <= res["synergy"] + TOL, c


@given(weights(), scenarios())
def test_hughes2012_contributions_spillovers_lift_and_drag(theory, row):
    """Contributions: capabilities feed each other (sensing -> NPD, supply chain, CRM; CRM ->
    supply chain, NPD). A fed capability moves toward its feeders: above its own value where they
    are stronger, below where they are weaker (never beyond them)."""
    no_spill = theory.with_params(**{"spillover.strength": 0.0})
    with_spill, own = smi.evaluate(frame(row), theory).iloc[0], smi.evaluate(frame(row), no_spill).iloc[0]
    caps = THEORY.capabilities.set_index("capability")
    feeders = {t: [s for s in caps.index if t in caps.loc[s, "spills_over_to"].split("|")] for t in caps.index}
    assert any(feeders.values()), "capabilities.csv states spill-overs"
    for t, srcs in feeders.items():
        if not srcs:
            assert abs(with_spill[t] - own[t]) <= TOL, t
            continue
        fed = np.mean([with_spill[s] for s in srcs])
        lo, hi = min(own[t], fed), max(own[t], fed)
        assert lo - TOL <= with_spill[t] <= hi + TOL, t


# ----------------------------------------------------------------------------- Malshe et al. 2017

def _sim(rows: list[dict], theory=None) -> pd.DataFrame:
    return smi.simulate(pd.DataFrame(rows), quarters=12, theory=theory)


def _sensemaking_property(proposition: str, theory, row: dict, pair: tuple[float, float]) -> None:
    """The side's situational meaning, existential meaning and response rise with the
    dysfunction that triggers them ("falls" constructs fall), at every quarter."""
    sm = THEORY.sensemaking
    rows = sm[(sm.proposition == proposition) & (sm.stage != "trigger")]
    dysfunction = rows.dysfunction.iloc[0]
    a, b = pair
    assume(b - a > 1e-3)
    sim = _sim([_with(row, **{f"start_{dysfunction}": a}), _with(row, **{f"start_{dysfunction}": b})], theory)
    low, high = sim[sim.run == 0].reset_index(drop=True), sim[sim.run == 1].reset_index(drop=True)
    assert len(rows) == 3
    for r in rows.itertuples():
        sign = 1.0 if r.polarity == "rises" else -1.0
        assert (sign * (high[r.construct] - low[r.construct]) >= -TOL).all(), r.construct


@given(weights(), scenarios(), _pairs())
def test_malshe2017_P1_sales_reading_of_communication_paucity(theory, row, pair):
    """P1: communication paucity -> sales feel undervalued, ostracized; respond with active ignorance."""
    _sensemaking_property("P1", theory, row, pair)


@given(weights(), scenarios(), _pairs())
def test_malshe2017_P2_marketing_reading_of_communication_paucity(theory, row, pair):
    """P2: communication paucity -> marketing sees "autonomy overkill", feels a nuisance; usurps."""
    _sensemaking_property("P2", theory, row, pair)


@given(weights(), scenarios(), _pairs())
def test_malshe2017_P3_sales_reading_of_lack_of_collaboration(theory, row, pair):
    """P3: lack of collaboration -> sales see marketing as less customer-oriented, feel role
    conflict; learn lone-wolfism."""
    _sensemaking_property("P3", theory, row, pair)


@given(weights(), scenarios(), _pairs())
def test_malshe2017_P4_marketing_reading_of_lack_of_collaboration(theory, row, pair):
    """P4: lack of collaboration -> marketing finds strategy making futile, feels rudderless;
    learns skepticism."""
    _sensemaking_property("P4", theory, row, pair)


@given(weights(), scenarios(), _pairs())
def test_malshe2017_P5_sales_reading_of_overt_conflict(theory, row, pair):
    """P5: overt conflict -> sales read strategic submissiveness, marketing's superiority;
    protect their own interests."""
    _sensemaking_property("P5", theory, row, pair)


@given(weights(), scenarios(), _pairs())
def test_malshe2017_P6_marketing_reading_of_overt_conflict(theory, row, pair):
    """P6: overt conflict -> marketing feels singled out, loses hope; reallocates effort inefficiently."""
    _sensemaking_property("P6", theory, row, pair)


@given(weights(), scenarios("linkages"), st.sampled_from(DYSFUNCTIONS), st.floats(0.05, 1.0))
def test_malshe2017_P7_bidirectional_circularity(theory, row, start, level):
    """P7: a dysfunction can raise each of the others, in either direction (every coupling is zero
    or positive, so none ever lowers another); at the shipped weights, started from any single
    dysfunction, both others appear within a quarter. That it does not have to escalate is
    tested in test_responsiveness.py (a mild dysfunction fades in a well-linked firm)."""
    row = {**row, **{f"start_{d}": 0.0 for d in DYSFUNCTIONS}, f"start_{start}": level}
    q1 = _sim([row], theory)
    q1 = q1[q1.quarter == 1].iloc[0]
    shipped = _sim([row])
    shipped = shipped[shipped.quarter == 1].iloc[0]
    for other in DYSFUNCTIONS:
        if other != start:
            assert q1[other] >= 0.0, other
            if theory.params.get(f"coupling.{start}.{other}", 0.0) > 1e-3:
                assert q1[other] > 0.0, other
            assert shipped[other] > 0.0, other


_STARTS = ("function_fix_start", "openness_start", "joint_calls_start", "job_rotation_start", "customized_start")
_MEASURES = ("function_fix", "openness", "joint_calls", "job_rotation", "customized")


@given(weights(), scenarios(), st.integers(0, 20), st.integers(1, 20))
def test_malshe2017_implication_early_beats_late(theory, row, early, delay):
    """§4.2: preventing dysfunctions may be easier than mending them. In the model the same measures
    started earlier never leave more cumulative dysfunction than started later, for any weights."""
    late = early + delay
    e = _with(row, **{s: early for s in _STARTS})
    l_ = _with(row, **{s: late for s in _STARTS})
    out = smi.summarize(pd.DataFrame([e, l_]), quarters=24, theory=theory)
    assert out.cumulative_dysfunction.iloc[0] <= out.cumulative_dysfunction.iloc[1] + TOL


@given(weights(), scenarios(), st.floats(0.1, 1.0), st.sampled_from(["openness", "joint_calls", "job_rotation", "customized"]),
       st.floats(0.1, 1.0))
def test_malshe2017_implication_reaching_sensemaking_adds_to_a_function_level_fix(theory, row, fix, measure, strength):
    """§4.1: function-level measures likely do not reach individual sensemaking. Adding a measure
    that does (§4.2) to a function-level fix never leaves more dysfunction, for any weights; at
    the shipped weights it leaves strictly less."""
    assume(sum(row[f"start_{d}"] for d in DYSFUNCTIONS) > 0.05)
    # both start within the 24 simulated quarters
    alone = _with(row, function_fix=fix, function_fix_start=min(row["function_fix_start"], 20),
                  **{m: 0.0 for m in _MEASURES if m != "function_fix"})
    both = _with(alone, **{measure: strength, f"{measure}_start": alone["function_fix_start"]})
    out = smi.summarize(pd.DataFrame([alone, both]), quarters=24, theory=theory)
    assert out.cumulative_dysfunction.iloc[1] <= out.cumulative_dysfunction.iloc[0] + TOL
    shipped = smi.summarize(pd.DataFrame([alone, both]), quarters=24)
    assert shipped.cumulative_dysfunction.iloc[1] < shipped.cumulative_dysfunction.iloc[0]


@given(weights(), scenarios(), st.sampled_from(DYSFUNCTIONS), _pairs())
def test_book_assumption_dysfunctions_erode_linkages_and_functioning(theory, row, dysfunction, pair):
    """The book's assumption (relations.csv: erosion), serving 2017 §4.1 (eroded trust, impaired
    communication): more of any starting dysfunction never leaves higher linkages or functioning,
    and functioning never exceeds the firm's undisturbed potential."""
    a, b = pair
    sim = _sim([_with(row, **{f"start_{dysfunction}": a}), _with(row, **{f"start_{dysfunction}": b})], theory)
    low, high = sim[sim.run == 0].reset_index(drop=True), sim[sim.run == 1].reset_index(drop=True)
    for col in ("smi_connection", "smi_functioning", "language", "social"):
        assert (high[col] <= low[col] + TOL).all(), col
    assert (sim.smi_functioning <= sim.functioning_potential + TOL).all()


@given(weights(), scenarios())
def test_book_assumption_incremental_effects_switch_orders_the_damage(theory, row):
    """2017 §4.3 names nonlinear incremental effects as future research; the curves are the book's.
    With intensities below 1, an increasing curve does less harm than a linear one, which does
    less than a decreasing one, for any admissible weights."""
    rows = [_with(row, incremental_effects=k) for k in ("increasing", "linear", "decreasing")]
    cum = smi.summarize(pd.DataFrame(rows), quarters=16, theory=theory).cumulative_dysfunction.to_numpy()
    assert cum[0] <= cum[1] + TOL and cum[1] <= cum[2] + TOL
