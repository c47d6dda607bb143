"""The SMI health check: questionnaire validation, the answer -> input mapping and the profile."""
from __future__ import annotations

import base64
import copy
import csv
import itertools
import hashlib
import json
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

import smi
from tests.support import pattern
from smi import questionnaire as qn
from smi_charts import questionnaire_io as qio
from smi.data import DYSFUNCTIONS, LEVERS, LINKAGES, DataValidationError

Q = qio.load()
THEORY = Q.theory
SOURCE = smi.data.data_dir() / qio.FILE


def answers(value=3, **override) -> dict[str, int]:
    a = {qid: value for qid in Q.ids}
    a.update({k.replace("_", "-"): v for k, v in override.items()})
    return a


def scenario_by_hand(a: dict[str, int]) -> pd.DataFrame:
    """The scenario the answers describe, derived here from the files alone (not through smi.questionnaire):
    each asked input is the mean of its questions' answers rescaled to (a - 1) / 4, reversed for
    '-'; every other input keeps its default from data/inputs.csv."""
    doc = yaml.safe_load(SOURCE.read_text(encoding="utf-8"))
    asked: dict[str, list[float]] = {}
    for q in doc["questions"]:
        for entry in q["maps_to"]:
            name, sign = entry.split()
            v = (a[q["id"]] - 1) / 4
            asked.setdefault(name, []).append(1 - v if sign == "-" else v)
    with (SOURCE.parent / "inputs.csv").open(newline="", encoding="utf-8") as fh:
        row = {r["name"]: (r["default"] if r["kind"] == "switch" else float(r["default"])) for r in csv.DictReader(fh)}
    row.update({name: sum(vs) / len(vs) for name, vs in asked.items()})
    return pd.DataFrame([row])


# --------------------------------------------------------------------------- the file itself

def test_questionnaire_size_and_scales():
    assert qio.MIN_QUESTIONS <= len(Q.questions) <= qio.MAX_QUESTIONS
    assert len(set(Q.ids)) == len(Q.ids)
    for q in Q.questions:
        assert len(q.labels) == qn.POINTS and len(set(q.labels)) == qn.POINTS, q.id
        assert q.construct and q.maps_to and q.text, q.id


def test_every_linkage_input_lever_and_starting_dysfunction_is_asked():
    required = qn.required_inputs(THEORY)
    assert set(THEORY.input_names("linkages")) <= set(required)  # context inputs included
    assert set(LEVERS) <= set(required)
    assert {f"start_{d}" for d in DYSFUNCTIONS} <= set(required)
    assert set(required) <= set(Q.weights)


def test_each_dysfunction_has_a_trigger_from_each_side():
    for d in DYSFUNCTIONS:
        texts = [Q.by_id[qid].text for qid in Q.questions_for(f"start_{d}")]
        assert any(t.startswith("(Seen from sales)") for t in texts), d
        assert any(t.startswith("(Seen from marketing)") for t in texts), d


def test_constructs_name_existing_propositions():
    for q in Q.questions:
        for token in q.construct:
            assert token.split(":")[0] in smi.data.STUDIES


# --------------------------------------------------------------------------- what the items ask (issue 11)

LEVER_ITEMS = {lv: f"lev-{lv}" for lv in LEVERS}


@pytest.mark.parametrize("qid,construct,maps_to", [
    ("lang-vertical-sales", ("malshe2011:P1a",), (("vertical_communication", "+"),)),
    ("lang-vertical-marketing", ("malshe2011:P1a",), (("vertical_communication", "+"),)),
    ("soc-rapport-leaders", ("malshe2011:P6a",), (("rapport", "+"),)),
    ("soc-rapport-field", ("malshe2011:P6a",), (("rapport", "+"),)),
    ("struct-ownership", ("malshe2011:P4",), (("ownership", "+"),)),
    ("phil-partner", ("malshe2011:P7c",), (("partner_view", "+"),)),
    *[(qid, ("hughes2012:P1-P5",), ((lv, "+"),)) for lv, qid in LEVER_ITEMS.items()],
])
def test_changed_items_map_as_intended(qid, construct, maps_to):
    q = Q.by_id[qid]
    assert q.construct == construct and q.maps_to == maps_to


def test_each_lever_has_its_own_item_and_nothing_else_sets_it():
    for lv, qid in LEVER_ITEMS.items():
        assert Q.weights[lv] == [(qid, "+")], lv
        assert Q.by_id[qid].section == "levers"


def test_lever_items_ask_about_the_other_functions_too():
    """Hughes et al. (2012): the levers are shared by the SMI and the functions at its interface."""
    for qid in LEVER_ITEMS.values():
        text = Q.by_id[qid].text
        assert "other function" in text or "another function" in text, qid


def test_resources_item_asks_whether_resources_reach_where_needed_not_co_funding():
    text = Q.by_id["lev-resources"].text
    assert "whichever part of the firm needs them" in text
    assert "committed by both" not in text and "borrowed" not in text


def test_vertical_channel_is_asked_for_each_function_and_the_input_is_their_mean():
    sales, marketing = Q.by_id["lang-vertical-sales"], Q.by_id["lang-vertical-marketing"]
    assert sales.text.startswith("Within sales,") and marketing.text.startswith("Within marketing,")
    assert all("channels" in q.text for q in (sales, marketing))  # the mechanism, not the outcome
    assert Q.questions_for("vertical_communication") == [sales.id, marketing.id]
    x = qn.answers_to_inputs({**answers(), sales.id: 5, marketing.id: 1}, Q)
    assert x.at[0, "vertical_communication"] == pytest.approx(0.5)


def test_rapport_is_two_items_at_the_top_and_in_the_field():
    assert Q.questions_for("rapport") == ["soc-rapport-leaders", "soc-rapport-field"]
    assert "heads of sales and marketing" in Q.by_id["soc-rapport-leaders"].text
    assert "day to day" in Q.by_id["soc-rapport-field"].text
    x = qn.answers_to_inputs({**answers(), "soc-rapport-leaders": 1, "soc-rapport-field": 4}, Q)
    assert x.at[0, "rapport"] == pytest.approx((0.0 + 0.75) / 2)


def test_ownership_item_does_not_assume_the_leaders_approved_the_process():
    text = Q.by_id["struct-ownership"].text
    assert "approved" not in text and "leaders down to the field" in text


def test_dysfunction_items_are_the_triggers_of_a_present_dysfunction():
    triggers = [q for q in Q.questions if q.section == "triggers"]
    assert {n for q in triggers for n, _ in q.maps_to} == {f"start_{d}" for d in DYSFUNCTIONS}
    assert all(q.id.startswith("trigger-") for q in triggers)
    assert "already present" in Q.sections["triggers"]
    everything = " ".join([*Q.sections.values(), *(q.text for q in Q.questions), *qn.CLASS_GROUPS.values()])
    assert "early sign" not in everything.lower()


# --------------------------------------------------------------------------- the mapping

@pytest.mark.parametrize("name", list(Q.weights))
def test_every_input_follows_its_questions_in_their_direction(name):
    """Only the questions that map to an input move it, each in its stated direction."""
    low, high = dict(answers(3)), dict(answers(3))
    for qid, sign in Q.weights[name]:
        low[qid], high[qid] = (1, 5) if sign == "+" else (5, 1)
    lo, hi = qn.answers_to_inputs(low, Q).iloc[0], qn.answers_to_inputs(high, Q).iloc[0]
    assert lo[name] == 0.0 and hi[name] == 1.0
    others = [n for n in Q.weights if n != name and not set(Q.questions_for(n)) & set(Q.questions_for(name))]
    assert (lo[others] == hi[others]).all()


@pytest.mark.parametrize("answer,expected", [(1, 0.0), (2, 0.25), (3, 0.5), (4, 0.75), (5, 1.0)])
def test_rescaling_to_unit_interval(answer, expected):
    x = qn.answers_to_inputs(answers(answer), Q).iloc[0]
    for name, pairs in Q.weights.items():
        want = expected if all(s == "+" for _, s in pairs) else None
        if want is not None:
            assert x[name] == pytest.approx(want), name


def test_reversed_question():
    reversed_ = [(n, qid) for n, pairs in Q.weights.items() for qid, s in pairs if s == "-"]
    assert reversed_, "the questionnaire should have at least one reversed item"
    for name, qid in reversed_:
        if len(Q.weights[name]) == 1:
            assert qn.answers_to_inputs({**answers(), qid: 5}, Q).at[0, name] == 0.0
            assert qn.answers_to_inputs({**answers(), qid: 1}, Q).at[0, name] == 1.0
            assert qn.answers_to_inputs({**answers(), qid: 2}, Q).at[0, name] == 0.75
    assert qn.rescale(4, "-") == 0.25 and qn.rescale(4, "+") == 0.75


def test_input_asked_twice_is_the_mean():
    name = "start_communication_paucity"
    (q1, _), (q2, _) = Q.weights[name]
    x = qn.answers_to_inputs({**answers(), q1: 2, q2: 5}, Q)
    assert x.at[0, name] == pytest.approx((0.25 + 1.0) / 2)


def test_scenario_is_complete_and_unasked_inputs_keep_defaults():
    x = qn.answers_to_inputs(pattern(0), Q)
    assert list(x.columns) == THEORY.input_names() and len(x) == 1
    for name in THEORY.input_names():
        if name not in Q.weights:
            assert x.at[0, name] == THEORY.defaults[name], name
    smi.evaluate(x)  # a valid scenario for the model
    smi.summarize(x)


def test_missing_answers_name_each_question():
    a = answers()
    del a["lang-terms"], a["trigger-collab-sales"]
    with pytest.raises(ValueError, match="no answer for questions lang-terms, trigger-collab-sales"):
        qn.answers_to_inputs(a, Q)


@pytest.mark.parametrize("bad", [0, 6, 2.5, "3", True, None, float("nan"), [3]])
def test_invalid_answer_is_named_never_defaulted(bad):
    with pytest.raises(ValueError) as err:
        qn.answers_to_inputs({**answers(), "lev-vision": bad, "ctx-regions": 9}, Q)
    msg = str(err.value)
    assert "lev-vision" in msg and repr(bad) in msg and "ctx-regions (value 9)" in msg


def test_unknown_question_id_is_named():
    with pytest.raises(ValueError, match="unknown question id 'lang-colour'"):
        qn.answers_to_inputs({**answers(), "lang-colour": 3}, Q)


def test_all_problems_reported_at_once():
    a = answers()
    del a["lang-terms"]
    a["lev-vision"] = 7
    a["extra"] = 1
    with pytest.raises(ValueError) as err:
        qn.check_answers(a, Q)
    assert all(s in str(err.value) for s in ("lang-terms", "lev-vision (value 7)", "'extra'"))


def test_answers_must_be_a_mapping():
    with pytest.raises(ValueError, match="must map each question id"):
        qn.answers_to_inputs([3] * len(Q.ids), Q)


def test_whole_number_floats_count_as_answers():
    a = {k: float(v) for k, v in pattern(1).items()}
    assert qn.answers_to_inputs(a, Q).equals(qn.answers_to_inputs(pattern(1), Q))


# --------------------------------------------------------------------------- the profile

@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_profile_numbers_come_from_the_model(seed):
    a = pattern(seed)
    p = qn.profile(a, Q)
    x = scenario_by_hand(a)
    pd.testing.assert_frame_equal(p.inputs, x[p.inputs.columns], check_dtype=False)
    ev = smi.evaluate(x).iloc[0]
    for k in [*LINKAGES, "smi_connection"]:
        assert p.linkages[k] == pytest.approx(ev[k])
    for k in ["smi_functioning", "synergy", *THEORY.capabilities.capability]:
        assert p.capabilities[k] == pytest.approx(ev[k])
    assert p.levers["lever_integration"] == pytest.approx(ev["lever_integration"])
    for lv in LEVERS:
        assert p.levers[lv] == x.at[0, lv]
    # dysfunction risk is an estimate from the grid (the dynamics depend on every linkage): it is
    # the grid's value at the firm's starting cell, interpolated in its connection, and close to
    # the exact simulation of this firm
    g = qn.risk_grid(Q)
    cells = list(itertools.product(*[range(n + 1) for n in g.steps]))  # first start slowest, as built
    cell = cells.index(tuple(int(round(x.at[0, s] * n)) for s, n in zip(g.starts, g.steps)))
    for f, k in enumerate(("cumulative_dysfunction", "final_dysfunction", "peak_dysfunction")):
        assert p.dysfunction[k] == pytest.approx(np.interp(ev.smi_connection, g.connection, g.values[cell, :, f]))
    summ = smi.summarize(x).iloc[0]
    for k in summ.index:
        assert abs(p.dysfunction[k] - summ[k]) <= (0.05 if k == "functioning_loss" else 0.1), k


def test_profile_of_a_middling_firm_by_hand():
    """Every answer 3: every asked input is 0.5 (a reversed question too), and the numbers follow
    from the model's formulas with the weights of data/parameters.csv, worked out here."""
    p = qn.profile(answers(3), Q)
    w = THEORY.param
    gate = lambda proviso, ctx: 1 - (w(f"strictness_low.{proviso}") + (w(f"strictness_high.{proviso}")
                                      - w(f"strictness_low.{proviso}")) * ctx) * (1 - 0.5)
    fixed = lambda proviso: 1 - w(f"strictness_high.{proviso}") * (1 - 0.5)  # a proviso without a context
    link = {  # at the shipped weights: 0.18397, 0.23625, 0.325, 0.5, 0.5
        "language": 0.5 * gate("vertical_communication", 0.5) * gate("horizontal_bridges", 0.5)
        * gate("two_way_channels", 0.5),
        "structure": 0.5 * gate("flexibility", 0.5) * gate("ownership", 0.5),
        "process": 0.5 * fixed("team_visibility"),
        "social": 0.5, "philosophical": 0.5,
    }
    for k, v in link.items():
        assert p.linkages[k] == pytest.approx(v)
    conn = sum(w(f"weight.{k}") * v for k, v in link.items()) / sum(w(f"weight.{k}") for k in LINKAGES)
    assert p.linkages["smi_connection"] == pytest.approx(conn)  # 0.349044 at the shipped weights
    assert all(p.levers[lv] == 0.5 for lv in LEVERS) and p.levers["lever_integration"] == pytest.approx(0.5)
    share = w("functioning.connection_share")
    functioning = share * conn + (1 - share) * 0.5
    assert p.capabilities["smi_functioning"] == pytest.approx(functioning)
    assert p.capabilities["synergy"] == pytest.approx(functioning ** w("synergy.exponent"))
    # levers all at 0.5: whatever a capability stresses, its lever focus is 0.5, its own value
    # synergy * (floor + (1 - floor) * 0.5), and spill-overs mix equal values
    own = functioning ** w("synergy.exponent") * (w("capability.floor") + (1 - w("capability.floor")) * 0.5)
    for cap in THEORY.capabilities.capability:
        assert p.capabilities[cap] == pytest.approx(own)  # 0.318391 at the shipped weights
    # the weakest linkages are the two lowest worked out above
    assert list(p.weakest[p.weakest.layer == "linkage"].name) == sorted(link, key=link.get)[:qn.WEAKEST_PER_LAYER]


@pytest.mark.parametrize("seed", range(3))
def test_dysfunction_risk_grid_is_exact_for_a_firm_with_equal_linkages(seed):
    """The grid simulates a firm whose five linkages all stand at one level; at a grid level the
    estimate is that simulation itself (nothing invented by the interpolation)."""
    g = qn.risk_grid(Q)
    rng = np.random.default_rng(seed)
    cell = [int(rng.integers(0, n + 1)) for n in g.steps]
    level = int(rng.integers(1, len(g.connection)))
    # the cells in the order the grid lists them (each start's levels k / n, the first start slowest)
    idx = list(itertools.product(*[range(n + 1) for n in g.steps])).index(tuple(cell))
    row = dict(THEORY.defaults, **{s: k / n for s, k, n in zip(g.starts, cell, g.steps)})
    x = pd.DataFrame([row])
    spec, c = smi.dynamics.dyn_spec(THEORY), smi.model.compiled(THEORY)
    conn = np.array([g.connection[level]])
    st = smi.dynamics.simulate_arrays(smi.dynamics.scenario_arrays(x, THEORY), 40, spec, {k: conn for k in LINKAGES},
                                      c.linkage_weights)
    total = st["D"].sum(axis=2)[:, 0]
    assert g.values[idx, level, 0] == pytest.approx(total[1:].mean())
    assert g.values[idx, level, 1] == pytest.approx(total[-1])


def test_dysfunction_risk_grid_at_its_ends_by_hand():
    """Hand-checkable cells: with no starting dysfunction nothing ever arises (every inflow is a
    power of a dysfunction), so all three totals are 0 and the connection is kept whole; a firm
    whose linkage inputs are all 1 has every linkage at 1, so the grid's top level is that firm,
    simulated through the public smi.summarize."""
    g = qn.risk_grid(Q)
    assert g.connection[0] == 0 and g.connection[-1] == 1 and len(g.connection) == qn.CONNECTION_LEVELS
    assert g.values.shape == (np.prod([n + 1 for n in g.steps]), qn.CONNECTION_LEVELS, len(qn.RISK_FIELDS))
    assert (g.values[0, :, :3] == 0).all() and g.values[0, :, 3] == pytest.approx(np.ones(qn.CONNECTION_LEVELS))
    top = {n: 1.0 for n in THEORY.input_names("linkages")}
    for cell in ([g.steps[0], 0, 0], [0, g.steps[1] // 2, g.steps[2]]):
        idx = list(itertools.product(*[range(n + 1) for n in g.steps])).index(tuple(cell))
        x = smi.scenario(**top, **{s: k / n for s, k, n in zip(g.starts, cell, g.steps)})
        assert smi.linkages(x).iloc[0][list(LINKAGES)].tolist() == [1.0] * len(LINKAGES)
        summ = smi.summarize(x).iloc[0]
        assert g.values[idx, -1, 0] == pytest.approx(summ.cumulative_dysfunction)
        assert g.values[idx, -1, 1] == pytest.approx(summ.final_dysfunction)
        assert g.values[idx, -1, 2] == pytest.approx(summ.peak_dysfunction)


def test_weakest_links_are_the_lowest_with_their_propositions():
    p = qn.profile(pattern(2), Q)
    links = p.weakest[p.weakest.layer == "linkage"]
    levers = p.weakest[p.weakest.layer == "lever"]
    assert len(links) == qn.WEAKEST_PER_LAYER and len(levers) == qn.WEAKEST_PER_LAYER
    assert links.value.max() <= min(v for k, v in p.linkages.items() if k in LINKAGES and k not in set(links.name)) + 1e-12
    assert levers.value.max() <= min(p.levers[lv] for lv in LEVERS if lv not in set(levers.name)) + 1e-12
    for r in links.itertuples():
        assert all(t.startswith("malshe2011:P") for t in r.propositions)
        assert r.held_back_by in qn.linkage_members(THEORY)[r.name]
        assert r.questions  # the question that asks about the input holding it back
    for r in levers.itertuples():
        assert r.propositions == [f"hughes2012:P{i}" for i in range(1, 6)]
        assert r.cite == "Hughes et al. 2012, P1–P5"


def test_work_on_first_follows_the_sensitivity_ranking():
    """Work on first: the inputs managers can move whose move alone, to either end of its range,
    raises SMI functioning most; the gains are found here by moving each input with smi.evaluate."""
    a = pattern(3)
    p = qn.profile(a, Q)
    x = scenario_by_hand(a)
    now = smi.evaluate(x).smi_functioning.iloc[0]
    spec = THEORY.inputs.set_index("name")
    movable = [n for n in THEORY.input_names() if spec.loc[n, "layer"] in ("linkages", "capabilities")
               and spec.loc[n, "kind"] not in ("context", "start", "switch")]
    gains = {n: max(smi.evaluate(x.assign(**{n: spec.loc[n, end]})).smi_functioning.iloc[0] - now
                    for end in ("min", "max")) for n in movable}
    best = sorted((n for n in gains if round(gains[n], 9) > 0), key=lambda n: (-round(gains[n], 9), n))
    assert list(p.work_on_first.input) == best[:qn.WORK_ON_FIRST]
    assert list(p.work_on_first.gain) == pytest.approx([gains[n] for n in best[:qn.WORK_ON_FIRST]])
    assert p.work_on_first.gain.is_monotonic_decreasing
    assert not set(p.work_on_first.input) & set(THEORY.input_names(kind="context"))


def test_the_pages_model_spec_probes_every_actionable_input_at_both_ends():
    """The browser's "work on first" is computed by the Vega spec model_spec generates; it must probe
    what smi.sensitivity probes (each actionable input alone at its min and max) and take every
    input the questions set (tests/browser/test_healthcheck.py compares the rankings)."""
    from smi_charts import healthcheck as hc

    spec = hc.model_spec(Q)
    probes = next(d for d in spec["data"] if d["name"] == "probes")["values"]
    inp = THEORY.inputs.set_index("name")
    expected = [(n, end, float(inp.loc[n, end])) for n in qn.actionable_inputs(THEORY) for end in ("min", "max")]
    assert [(r["name"], r["end"], r["at"]) for r in probes if r["end"] != "now"] == expected
    assert {s["name"] for s in spec["signals"]} >= set(Q.weights)
    assert {d["name"] for d in spec["data"]} >= {"now", "work", "weakest", "alerts"}


def test_a_perfect_firm_has_nothing_to_work_on_and_no_alert():
    a = answers(5)
    for qid in Q.ids:
        if any(n.startswith("start_") for n, _ in Q.by_id[qid].maps_to):
            a[qid] = 1
        if any(s == "-" for _, s in Q.by_id[qid].maps_to):
            a[qid] = 1
    p = qn.profile(a, Q)
    assert p.work_on_first.empty and p.alerts.empty
    assert p.dysfunction["cumulative_dysfunction"] == 0.0


def test_strong_triggers_raise_an_alert_and_dysfunction_risk():
    calm = qn.profile(answers(3, trigger_paucity_sales=1, trigger_paucity_marketing=1, trigger_collab_sales=1,
                              trigger_collab_marketing=1, trigger_conflict_sales=1, trigger_conflict_marketing=1), Q)
    hot = qn.profile(answers(3, trigger_conflict_sales=5, trigger_conflict_marketing=4), Q)
    assert calm.alerts.empty
    assert list(hot.alerts.dysfunction)[0] == "overt_conflict"
    assert hot.dysfunction["cumulative_dysfunction"] > calm.dysfunction["cumulative_dysfunction"]


# --------------------------------------------------------------------------- exports and codes

def test_export_and_code_round_trip():
    a = pattern(4)
    doc = json.loads(json.dumps(qio.export(a)))
    assert doc["format"] == "smi-healthcheck" and doc["version"] == qio.VERSION
    assert doc["answers"] == a and doc["inputs"] == pytest.approx(qn.mapped_inputs(a, Q))
    assert qio.read_export(doc) == a
    code = qio.encode_code(a)
    assert code.startswith(f"hc1.{Q.fingerprint}.") and len(code) < 60
    assert qio.decode_code(code) == a
    digits = base64.urlsafe_b64decode(code.split(".")[2] + "==").decode()
    assert digits == "".join(str(a[q]) for q in Q.ids)  # base64 of the answers, in question order


# bad codes and exports with what the refusal must say (the page's JS is held to them too:
# tests/browser/test_healthcheck.py)
BAD_CODES = [
    ("hello", "not a health-check code"),
    ("hc1.00000000.MzMz", "different version of the questionnaire"),
    (f"hc1.{Q.fingerprint}.!!!", "not valid base64"),
    (f"hc1.{Q.fingerprint}.MzMz", "must carry"),
]
BAD_EXPORTS = [
    (lambda d: "{not json", "not valid JSON"),
    (lambda d: [d], "expected a JSON object"),
    (lambda d: {**d, "format": "other"}, "not a health-check export"),
    (lambda d: {**d, "version": qio.VERSION + 1}, f"unsupported version {qio.VERSION + 1}"),
    (lambda d: {**d, "answers": {k: v for k, v in d["answers"].items() if k != "lev-decision"}}, "lev-decision"),
    (lambda d: {**d, "answers": {**d["answers"], "soc-rapport-field": 8}}, r"soc-rapport-field \(value 8\)"),
    (lambda d: {**d, "inputs": {**d["inputs"], "rapport": 0.123}}, "do not follow from its answers"),
    (lambda d: {k: v for k, v in d.items() if k != "inputs"}, "'inputs' must be an object"),
]


@pytest.mark.parametrize("code,reason", BAD_CODES)
def test_bad_codes_say_why(code, reason):
    with pytest.raises(ValueError, match=reason):
        qio.decode_code(code)


@pytest.mark.parametrize("mutate,reason", BAD_EXPORTS)
def test_malformed_exports_say_why(mutate, reason):
    doc = qio.export(pattern(5))
    with pytest.raises(ValueError, match=reason):
        qio.read_export(mutate(copy.deepcopy(doc)))


def test_read_file_names_the_file(tmp_path):
    (tmp_path / "team1.json").write_text(json.dumps(qio.export(pattern(6))))
    (tmp_path / "codes.txt").write_text(qio.encode_code(pattern(7)) + "\n\n" + qio.encode_code(pattern(8)) + "\n")
    (tmp_path / "broken.json").write_text('{"format": "smi-healthcheck"')
    (tmp_path / "badcodes.txt").write_text(qio.encode_code(pattern(7)) + "\nnonsense\n")
    assert qio.read_file(tmp_path / "team1.json") == [("team1", pattern(6))]
    assert qio.read_file(tmp_path / "codes.txt") == [("codes #1", pattern(7)), ("codes #2", pattern(8))]
    with pytest.raises(ValueError, match=r"^broken\.json: not valid JSON"):
        qio.read_file(tmp_path / "broken.json")
    with pytest.raises(ValueError, match=r"^badcodes\.txt: line 2: not a health-check code"):
        qio.read_file(tmp_path / "badcodes.txt")


HUGE = int("7" * 400)


def test_a_400_digit_answer_is_named_and_cut_short():
    """float() of it overflowed (OverflowError) and ended a whole class debrief."""
    doc = qio.export(pattern(5))
    doc["answers"]["lev-vision"] = HUGE
    with pytest.raises(ValueError) as err:
        qio.read_export(json.dumps(doc))
    msg = str(err.value)
    assert "lev-vision (value 7777777777" in msg and "(400 digits)" in msg
    assert len(msg) < 200, msg


def test_a_400_digit_input_is_named_and_cut_short():
    doc = qio.export(pattern(5))
    doc["inputs"]["rapport"] = HUGE
    with pytest.raises(ValueError, match=r"field 'inputs\.rapport': stated 7777777777\S*… \(400 digits\)") as err:
        qio.read_export(json.dumps(doc))
    assert len(str(err.value)) < 250


def test_a_number_past_pythons_digit_limit_is_not_valid_json():
    text = json.dumps(qio.export(pattern(5))).replace('"version": 2', '"version": ' + "9" * 5000)
    with pytest.raises(ValueError, match="not valid JSON") as err:
        qio.read_export(text)
    assert len(str(err.value)) < 400


def test_deeply_nested_json_is_refused_by_name(tmp_path):
    """json.loads raised RecursionError, which no caller expected."""
    (tmp_path / "deep.json").write_text('{"format": "smi-healthcheck", "answers": ' + "[" * 100_000 + "]" * 100_000 + "}")
    with pytest.raises(ValueError, match=r"^deep\.json: not a health-check export \(its JSON is nested too deeply"):
        qio.read_file(tmp_path / "deep.json")


@pytest.mark.parametrize("value, shown", [
    ("x" * 1000, "(1000 characters)"),
    ([[[[[[1]]]]]], "[[[[...]]]]"),
    ({"a" * 500: 1}, "…"),
])
def test_other_huge_values_are_cut_short(value, shown):
    doc = qio.export(pattern(5))
    doc["answers"]["lev-culture"] = value
    with pytest.raises(ValueError) as err:
        qio.read_export(doc)
    msg = str(err.value)
    assert "lev-culture (value " in msg and shown in msg and len(msg) < 200, msg


def test_class_table_refuses_two_firms_of_one_name():
    """Grouped by firm they would merge into one, counted by row they would stay two."""
    with pytest.raises(ValueError, match="two firms are named 'team'"):
        qn.class_table([("team", pattern(1)), ("team", pattern(2))], Q)


# --------------------------------------------------------------------------- earlier versions of the questionnaire

# The ordered question ids of each version, by fingerprint. Exports are keyed by question id, so a
# change of ids must bump qio.VERSION (which refuses older exports); this pin fails until it is done.
FINGERPRINTS = {1: "9c3357cf", 2: "6ec2b935"}
V1_IDS = ["lang-terms", "lang-vertical", "lang-bridges", "lang-channels", "struct-process", "struct-flex",
          "struct-ownership", "proc-teams", "proc-visibility", "soc-rapport", "soc-networks", "phil-customer",
          "phil-goals", "phil-partner", "ctx-hierarchy", "ctx-horizon", "ctx-regions", "lev-vision",
          "lev-alignment", "lev-processes", "lev-information", "lev-knowledge", "lev-decision", "lev-resources",
          "sign-paucity-sales", "sign-paucity-marketing", "sign-collab-sales", "sign-collab-marketing",
          "sign-conflict-sales", "sign-conflict-marketing"]


def test_question_ids_changed_only_with_a_version_bump():
    assert Q.fingerprint == FINGERPRINTS[qio.VERSION]
    assert hashlib.sha256("\n".join(V1_IDS).encode()).hexdigest()[:8] == FINGERPRINTS[1]


def _v1_code() -> str:
    digits = "".join(str(1 + i % 5) for i in range(len(V1_IDS)))
    return f"{qio.CODE_PREFIX}.{FINGERPRINTS[1]}.{base64.urlsafe_b64encode(digits.encode()).decode().rstrip('=')}"


def _v1_export() -> dict:
    """What the previous book exported: version 1, answers keyed by the version-1 ids."""
    return {"format": qio.FORMAT, "version": 1, "answers": {qid: 3 for qid in V1_IDS},
            "inputs": {"key_terms": 0.5, "vertical_communication": 0.5}}


def test_previous_version_code_is_refused_saying_why(tmp_path):
    with pytest.raises(ValueError, match=f"different version of the questionnaire \\(fingerprint '{FINGERPRINTS[1]}'"):
        qio.decode_code(_v1_code())
    (tmp_path / "old.txt").write_text(_v1_code() + "\n")
    with pytest.raises(ValueError, match=r"^old\.txt: line 1: made with a different version"):
        qio.read_file(tmp_path / "old.txt")


def test_previous_version_export_is_refused_saying_why(tmp_path):
    with pytest.raises(ValueError, match=f"unsupported version 1 \\(this book reads version {qio.VERSION}\\)"):
        qio.read_export(_v1_export())
    (tmp_path / "old.json").write_text(json.dumps(_v1_export()))
    with pytest.raises(ValueError, match=r"^old\.json: unsupported version 1"):
        qio.read_file(tmp_path / "old.json")
    # why the bump matters: without it the same file would be refused only for its unknown ids
    with pytest.raises(ValueError) as err:
        qio.read_export({**_v1_export(), "version": qio.VERSION})
    assert "unknown question ids" in str(err.value) and "sign-paucity-sales" in str(err.value)


# --------------------------------------------------------------------------- the page says what the questionnaire is

def test_page_says_it_is_a_teaching_exercise_not_a_validated_instrument(monkeypatch):
    from smi_charts import healthcheck as hc_page
    shown = []
    monkeypatch.setattr(hc_page, "display", lambda obj: shown.append(obj.data))
    hc_page.health_check(key="health")
    page = " ".join(" ".join(shown).split())
    caveat = page[page.index("What this questionnaire is, and is not"):page.index("smi-hc-privacy")]
    for phrase in ("teaching exercise", "written for this book", "never been tested for reliability or validity",
                   "not a validated survey instrument", "validated multi-item scales",
                   "several informants from both sales and marketing"):
        assert phrase in caveat, phrase
    assert page.index("What this questionnaire is") < page.index("smi-hc-form")  # before the first question
    assert "early sign" not in page.lower()
    assert "Triggers: signs that a dysfunction is already present" in page  # the section heading


def test_new_references_come_from_the_studies_reference_lists():
    """Every reference the page adds must be in references.bib (the build resolves {cite:p} from it)."""
    bib = (smi.data.data_dir().parent / "book" / "references.bib").read_text(encoding="utf-8")
    md = (smi.data.data_dir().parent / "book" / "healthcheck.md").read_text(encoding="utf-8")
    keys = set(re.findall(r"\{cite:p\}`([^`]+)`", md))
    assert {"kahn1998", "homburg2000", "massey2007", "lemeunier2007", "homburg2007", "homburg2008"} <= keys
    for key in keys:
        assert re.search(rf"@\w+\{{{key},", bib), key
        if key not in ("malshe2011", "hughes2012", "malshe2017"):
            # the bib notes which study's reference list the entry was copied from
            assert re.search(rf"% [^\n]*reference list of (malshe2011|hughes2012|malshe2017)[^\n]*\n@\w+\{{{key},", bib), key


# --------------------------------------------------------------------------- broken copies of the YAML

def _doc() -> dict:
    return yaml.safe_load(SOURCE.read_text(encoding="utf-8"))


def _write(tmp_path: Path, doc) -> Path:
    p = tmp_path / qio.FILE
    p.write_text(yaml.safe_dump(doc, sort_keys=False, allow_unicode=True), encoding="utf-8")
    return p


def _question(doc: dict, qid: str) -> dict:
    return next(q for q in doc["questions"] if q["id"] == qid)


def load_error(tmp_path: Path, doc, *parts: str) -> str:
    path = _write(tmp_path, doc) if not isinstance(doc, str) else doc
    with pytest.raises(DataValidationError) as err:
        qio.load(path)
    msg = str(err.value)
    assert msg.startswith(qio.FILE + ":"), msg
    for part in parts:
        assert part in msg, f"{part!r} not in {msg!r}"
    return msg


def test_the_shipped_file_round_trips(tmp_path):
    assert qio.load(_write(tmp_path, _doc())).ids == Q.ids


@pytest.mark.parametrize("qid,fld,value,parts", [
    ("lang-terms", "maps_to", ["key_term +"], ["'lang-terms'", "'maps_to'", "unknown input 'key_term'", "'key_term +'"]),
    ("lang-terms", "maps_to", ["key_terms *"], ["'lang-terms'", "'maps_to'", "'key_terms *'"]),
    ("lang-terms", "maps_to", ["key_terms+"], ["'lang-terms'", "'maps_to'", "'key_terms+'"]),
    ("lang-terms", "maps_to", [], ["'lang-terms'", "'maps_to'", "non-empty list"]),
    ("lang-terms", "maps_to", ["key_terms +", "key_terms -"], ["'lang-terms'", "appears twice"]),
    ("lev-vision", "maps_to", ["vision +", "function_fix +"], ["'lev-vision'", "'maps_to'", "intervention", "'function_fix +'"]),
    ("lev-vision", "maps_to", ["vision +", "incremental_effects +"], ["'lev-vision'", "switch"]),
    ("lang-terms", "construct", "malshe2011:P9", ["'lang-terms'", "'construct'", "'malshe2011:P9'"]),
    ("lang-terms", "construct", "malshe2011:P2a", ["'lang-terms'", "'construct'", "no sub-item", "'malshe2011:P2a'"]),
    ("lev-vision", "construct", "hughes2012:P5-P1", ["'lev-vision'", "'construct'", "upward", "'hughes2012:P5-P1'"]),
    ("lev-vision", "construct", "hughes2012:P1-P7", ["'lev-vision'", "no proposition P7"]),
    ("lev-vision", "construct", "smith2020:P1", ["'lev-vision'", "'construct'", "'smith2020:P1'"]),
    ("lev-vision", "construct", "", ["'lev-vision'", "'construct'", "at least one"]),
    ("lang-terms", "scale", "agreement", ["'lang-terms'", "'scale'", "unknown scale name", "'agreement'"]),
    ("lang-terms", "scale", ["No", "Maybe", "Yes", "Sure"], ["'lang-terms'", "'scale'", "list of 5 labels"]),
    ("lang-terms", "scale", ["a", "b", "c", "d", "a"], ["'lang-terms'", "'scale'", "differ"]),
    ("lang-terms", "section", "lingo", ["'lang-terms'", "'section'", "unknown section", "'lingo'"]),
    ("lang-terms", "text", "  ", ["'lang-terms'", "'text'", "non-empty"]),
    ("lang-terms", "id", "Lang Terms", ["'Lang Terms'", "'id'", "lowercase"]),
    ("lang-terms", "id", "lang-bridges", ["'lang-bridges'", "'id'", "appears twice"]),
    ("lang-terms", "weight", 2, ["'lang-terms'", "'weight'", "unexpected field", "2"]),
])
def test_broken_question_is_named(tmp_path, qid, fld, value, parts):
    doc = _doc()
    _question(doc, qid)[fld] = value
    load_error(tmp_path, doc, *parts)


def test_missing_field_is_named(tmp_path):
    doc = _doc()
    del _question(doc, "soc-rapport-leaders")["construct"]
    load_error(tmp_path, doc, "question 'soc-rapport-leaders'", "field 'construct'", "missing")


def test_uncovered_input_is_named(tmp_path):
    doc = _doc()
    doc["questions"] = [q for q in doc["questions"] if q["id"] != "proc-visibility"]
    load_error(tmp_path, doc, "no question maps to input 'team_visibility'")


def test_uncovered_lever_is_named(tmp_path):
    doc = _doc()
    doc["questions"] = [q for q in doc["questions"] if q["id"] != "lev-culture"]
    load_error(tmp_path, doc, "no question maps to input 'culture'")


@pytest.mark.parametrize("n", [qio.MIN_QUESTIONS - 1, qio.MAX_QUESTIONS + 1])
def test_question_count_is_bounded(tmp_path, n):
    doc = _doc()
    qs = doc["questions"]
    if n < len(qs):
        doc["questions"] = qs[:n]
    else:
        doc["questions"] = qs + [dict(qs[0], id=f"extra-{i}") for i in range(n - len(qs))]
    load_error(tmp_path, doc, "field 'questions'", f"{qio.MIN_QUESTIONS}-{qio.MAX_QUESTIONS}", f"found {n}")


def test_bad_scale_definition_is_named(tmp_path):
    doc = _doc()
    doc["scales"]["agree"] = ["Disagree", "Agree"]
    load_error(tmp_path, doc, "scale 'agree'", "'labels'", "'Disagree'")


def test_unknown_top_level_key(tmp_path):
    doc = _doc()
    doc["weights"] = {}
    load_error(tmp_path, doc, "unexpected top-level key 'weights'")


def test_duplicate_yaml_key_and_invalid_yaml(tmp_path):
    text = SOURCE.read_text(encoding="utf-8")
    dup = tmp_path / "dup" / qio.FILE
    dup.parent.mkdir()
    dup.write_text(text.replace("    section: language\n", "    section: language\n    section: language\n", 1))
    load_error(tmp_path, str(dup), "appears twice", "line")
    bad = tmp_path / "bad" / qio.FILE
    bad.parent.mkdir()
    bad.write_text(text.replace("scales:\n", "scales: [\n", 1))
    load_error(tmp_path, str(bad), "not valid YAML")


def test_missing_file(tmp_path):
    load_error(tmp_path, str(tmp_path / qio.FILE), "file not found")


def test_editing_the_file_is_picked_up(tmp_path):
    doc = _doc()
    path = _write(tmp_path, doc)
    assert qio.load(path).by_id["lang-terms"].maps_to == (("key_terms", "+"),)
    _question(doc, "lang-terms")["maps_to"] = ["key_terms +", "horizontal_bridges +"]
    path.write_text(yaml.safe_dump(doc, sort_keys=False), encoding="utf-8")
    import os
    os.utime(path, ns=(1, 10**18))
    assert qio.load(path).by_id["lang-terms"].maps_to == (("key_terms", "+"), ("horizontal_bridges", "+"))
