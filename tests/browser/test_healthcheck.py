"""The health check and the class debrief in the real built pages, in headless Chromium.

The profile the browser computes must equal ``smi.questionnaire.profile`` for the same answers;
answers survive a reload, export to a file and a code, and clear; the debrief names a malformed
file and charts the valid ones. No console error, no request to another host.
"""
from __future__ import annotations

import copy
import json
import random
import re

import pytest

from smi import questionnaire as qn
from smi_charts import questionnaire_io as qio
from tests.support import pattern
from tests.test_healthcheck import BAD_CODES, BAD_EXPORTS

HEALTH = "book/healthcheck.html"
DEBRIEF = "book/instructor/debrief.html"
ROOT = "#smi-hc-health"
Q = qio.load()


def fill(page, answers: dict[str, int]) -> None:
    for qid, v in answers.items():
        page.locator(f"#smi-hc-health-{qid}-{v}").check()


def wait_profile(page) -> None:
    page.wait_for_selector(f"{ROOT}[data-profile=ready]", timeout=20_000)


def shown(page) -> dict[str, float]:
    """Every number in the profile's tables, full precision, by output or input name."""
    return page.evaluate("""() => Object.fromEntries(Array.from(
        document.querySelectorAll('#smi-hc-health-profile tr[data-output] td[data-value]'))
        .map(td => [td.closest('tr').dataset.output, Number(td.dataset.value)]))""")


def items(page, selector: str, attr: str) -> list[str]:
    return page.locator(f"{ROOT} {selector}").evaluate_all(f"els => els.map(e => e.getAttribute('{attr}'))")


def assert_profile_matches(page, answers: dict[str, int]) -> None:
    p = qn.profile(answers, Q)
    numbers = shown(page)
    expected = {**p.numbers(), **{f"start_{d}": p.mapped[f"start_{d}"] for d in ("communication_paucity",
                                  "lack_of_collaboration", "overt_conflict")}}
    assert set(numbers) == set(expected)
    for name, value in expected.items():
        # the dysfunction grid is stored to 6 decimals; everything else is computed exactly
        tol = 1e-5 if name in p.dysfunction.index else 1e-9
        assert numbers[name] == pytest.approx(value, abs=tol), name
    # the table text is the same number, 3 decimals
    text = page.locator(f"{ROOT}-chain tr[data-output=smi_functioning] td").text_content()
    assert text == f"{p.capabilities['smi_functioning']:.3f}"
    assert items(page, ".smi-hc-weakest li", "data-name") == list(p.weakest.name)
    assert items(page, ".smi-hc-weakest li", "data-held") == list(p.weakest.held_back_by)
    assert items(page, ".smi-hc-first li[data-input]", "data-input") == list(p.work_on_first.input)
    gains = [float(g) for g in items(page, ".smi-hc-first li[data-input]", "data-gain")]
    assert gains == pytest.approx(list(p.work_on_first.gain), abs=1e-9)
    assert items(page, ".smi-hc-alerts li", "data-input") == list(p.alerts.input)
    # the propositions behind each weakest link are named
    first_weak = page.locator(f"{ROOT} .smi-hc-weakest li").first.text_content()
    assert p.weakest.cite.iloc[0] in first_weak


def test_health_check_fill_reload_export_code_clear(site_url, watched):
    page = watched.page
    page.goto(f"{site_url}/{HEALTH}")
    answers = pattern(11)
    status = page.locator(f"{ROOT}-status")
    assert page.locator(f"{ROOT}-profile").is_hidden()
    assert page.locator(f"{ROOT} .smi-hc-export").is_disabled()

    partial = dict(list(answers.items())[:-3])
    fill(page, partial)
    missing = [q for q in Q.ids if q not in partial]
    assert status.locator("li").evaluate_all("els => els.map(e => e.dataset.qid)") == missing
    for qid in missing:
        assert f"Question {Q.by_id[qid].number}" in status.text_content()
    assert page.locator(f"{ROOT}-profile").is_hidden()  # incomplete: no profile

    fill(page, {q: answers[q] for q in missing})
    wait_profile(page)
    assert page.locator(f"{ROOT}-profile").is_visible()
    assert status.locator("li").count() == 0
    assert_profile_matches(page, answers)
    page.locator(f"{ROOT}-chart-vis svg").first.wait_for()

    page.reload()
    wait_profile(page)
    for qid, v in answers.items():
        assert page.locator(f"#smi-hc-health-{qid}-{v}").is_checked(), qid
    assert_profile_matches(page, answers)
    key = page.evaluate("() => Object.keys(localStorage).find(k => k.startsWith('smi:') && k.endsWith(':health'))")
    assert key and json.loads(page.evaluate(f"() => localStorage.getItem({json.dumps(key)})"))["answers"] == answers

    with page.expect_download() as dl:
        page.locator(f"{ROOT} .smi-hc-export").click()
    download = dl.value
    assert download.suggested_filename == "smi-healthcheck.json"
    doc = json.loads(open(download.path(), encoding="utf-8").read())
    assert doc["format"] == "smi-healthcheck" and doc["version"] == qio.VERSION
    assert doc["answers"] == answers
    assert doc["inputs"] == pytest.approx(qn.mapped_inputs(answers, Q), abs=1e-12)
    assert qio.read_export(doc) == answers  # what the browser writes, Python reads

    page.locator(f"{ROOT} .smi-hc-makecode").click()
    code = page.locator(f"{ROOT}-code").input_value()
    assert code == qio.encode_code(answers)

    page.locator(f"{ROOT} .smi-hc-clear").click()
    assert page.locator(f"{ROOT}-profile").is_hidden()
    assert page.locator(f"{ROOT} .smi-hc-q input:checked").count() == 0
    assert page.evaluate(f"() => localStorage.getItem({json.dumps(key)})") is None
    assert status.locator("li").count() == len(Q.ids)
    page.reload()
    assert page.locator(f"{ROOT} .smi-hc-q input:checked").count() == 0

    # a code restores the answers (e.g. in another browser)
    page.locator(f"{ROOT}-restore").fill(code)
    page.locator(f"{ROOT} .smi-hc-restore-button").click()
    wait_profile(page)
    assert_profile_matches(page, answers)
    page.locator(f"{ROOT}-restore").fill("hc1.deadbeef.MzMz")
    page.locator(f"{ROOT} .smi-hc-restore-button").click()
    assert "different version" in page.locator(f"{ROOT}-message").text_content()

    assert not watched.errors, watched.errors
    assert not watched.external, watched.external


@pytest.mark.parametrize("seed", [3, 29])
def test_profile_equals_python_for_other_firms(site_url, watched, seed):
    page = watched.page
    page.goto(f"{site_url}/{HEALTH}")
    answers = pattern(seed)
    # strong triggers of conflict (a conflict already present): the alert list must agree too
    answers.update({"trigger-conflict-sales": 5, "trigger-conflict-marketing": 4})
    fill(page, answers)
    wait_profile(page)
    assert_profile_matches(page, answers)
    assert "start_overt_conflict" in items(page, ".smi-hc-alerts li", "data-input")
    assert not watched.errors, watched.errors


def _firms(n: int, seed: int) -> list[dict[str, int]]:
    """Random answer sets, plus the tie-heavy ones: every answer 3, and a perfect firm."""
    rng = random.Random(seed)
    firms = [{q: rng.randint(1, 5) for q in Q.ids} for _ in range(n)]
    firms.append({q: 3 for q in Q.ids})
    firms.append({q: 1 if any(i.startswith("start_") or s == "-" for i, s in Q.by_id[q].maps_to) else 5 for q in Q.ids})
    return firms


def test_generated_model_view_ranks_as_python_for_many_firms(site_url, watched):
    """Work on first, the weakest links, the alerts and the dysfunction risk come from the page's
    model view (a Vega spec smi_charts.healthcheck.model_spec generates); one view, run firm after
    firm, must give each firm what smi.questionnaire.profile gives, ties included."""
    page = watched.page
    page.goto(f"{site_url}/{HEALTH}")
    page.wait_for_function("() => window.smiHealthChecks && window.smiHealthChecks['smi-hc-health']")
    for answers in _firms(20, seed=13):
        got = page.evaluate("""a => window.smiHealthChecks['smi-hc-health'].profile(a).then(p => ({
            work: p.work.map(w => [w.input, w.gain, w.move, w.value]),
            weakest: p.weakest.map(w => [w.layer, w.name, w.value, w.held, w.heldValue]),
            alerts: p.alerts, now: p.now, risk: p.dysfunction}))""", answers)
        p = qn.profile(answers, Q)
        assert [w[0] for w in got["work"]] == list(p.work_on_first.input)
        assert [w[1] for w in got["work"]] == pytest.approx(list(p.work_on_first.gain), abs=1e-9)
        assert [w[2] for w in got["work"]] == list(p.work_on_first.best_move)
        assert [w[3] for w in got["work"]] == pytest.approx(list(p.work_on_first.value), abs=1e-12)
        assert [(w[0], w[1], w[3]) for w in got["weakest"]] == list(zip(p.weakest.layer, p.weakest.name, p.weakest.held_back_by))
        assert [w[2] for w in got["weakest"]] == pytest.approx(list(p.weakest.value), abs=1e-9)
        assert [w[4] for w in got["weakest"]] == pytest.approx(list(p.weakest.held_back_value), abs=1e-12)
        assert got["alerts"] == list(p.alerts.input)
        for name, value in {**p.linkages.to_dict(), **p.capabilities.to_dict()}.items():
            assert got["now"][name] == pytest.approx(value, abs=1e-9), name
        assert set(got["risk"]) == set(p.dysfunction.index)
        for name, value in p.dysfunction.items():  # the grid is stored to 6 decimals
            assert got["risk"][name] == pytest.approx(value, abs=1e-5), name
    assert not watched.errors, watched.errors


def test_codes_and_exports_are_read_as_python_reads_them(site_url, watched):
    """The page must check codes and files itself (nothing leaves the browser), so its checks mirror
    smi_charts.questionnaire_io; this holds them to the same cases and reasons."""
    page = watched.page
    page.goto(f"{site_url}/{HEALTH}")
    page.wait_for_function("() => !!window.smiHealth")

    def js(fn: str, arg) -> dict:
        return page.evaluate("""([fn, arg]) => {
            const data = JSON.parse(document.getElementById('smi-hc-health-data').textContent);
            try { return {ok: window.smiHealth[fn](data, arg)}; } catch (e) { return {error: e.message}; }
        }""", [fn, arg])

    for seed in (1, 5, 9):
        a = pattern(seed)
        assert js("decodeCode", qio.encode_code(a)) == {"ok": a}
        assert js("readExport", qio.export(a)) == {"ok": a}
    for code, reason in BAD_CODES:
        with pytest.raises(ValueError, match=reason):
            qio.decode_code(code)
        out = js("decodeCode", code)
        assert "error" in out and re.search(reason, out["error"]), (code, out)
    for mutate, reason in BAD_EXPORTS:
        doc = mutate(copy.deepcopy(qio.export(pattern(5))))
        if isinstance(doc, str):
            continue  # text that is not JSON: the debrief test covers the page's JSON.parse
        out = js("readExport", doc)
        assert "error" in out and re.search(reason, out["error"]), (reason, out)
    assert not watched.errors, watched.errors


def test_page_says_what_the_questionnaire_is_and_is_not(site_url, watched):
    """A teaching exercise, not a validated instrument: said before the first question, and the
    page's own section says what measuring the constructs for real would take."""
    page = watched.page
    page.goto(f"{site_url}/{HEALTH}")
    caveat = page.locator(f"{ROOT} .smi-hc-caveat")
    assert caveat.is_visible()
    text = " ".join(caveat.text_content().split())
    for phrase in ("teaching exercise", "never been tested for reliability or validity",
                   "not a validated survey instrument", "several informants from both sales and marketing"):
        assert phrase in text, phrase
    # the note comes before the first question
    assert page.evaluate(f"""() => !!(document.querySelector('{ROOT} .smi-hc-caveat').compareDocumentPosition(
        document.querySelector('{ROOT} fieldset.smi-hc-q')) & Node.DOCUMENT_POSITION_FOLLOWING)""")
    section = page.locator("section#what-this-questionnaire-is-and-is-not")
    body = " ".join(section.text_content().split())
    for phrase in ("not a validated survey instrument", "Validated multi-item scales", "Several informants from both functions"):
        assert phrase in body, phrase
    for author in ("Kahn", "Homburg", "Massey", "Le Meunier-FitzHugh"):  # the cited scales resolve to references
        assert author in body, author
    whole = page.locator("article").first.text_content().lower()
    assert "early sign" not in whole
    assert page.locator(f"{ROOT} h3", has_text="Triggers: signs that a dysfunction is already present").count() == 1
    assert not watched.errors, watched.errors


def test_radio_groups_are_labelled_and_keyboard_operable(site_url, watched):
    page = watched.page
    page.goto(f"{site_url}/{HEALTH}")
    fieldsets = page.locator(f"{ROOT} fieldset.smi-hc-q")
    assert fieldsets.count() == len(Q.ids)
    unlabelled = page.evaluate("""() => Array.from(document.querySelectorAll('#smi-hc-health input')).filter(
        i => !(i.labels && i.labels.length && i.labels[0].textContent.trim())).map(i => i.id)""")
    assert not unlabelled, unlabelled
    assert page.locator(f"{ROOT} fieldset.smi-hc-q legend").count() == len(Q.ids)
    first = Q.ids[0]
    page.locator(f"#smi-hc-health-{first}-1").focus()
    page.keyboard.press("ArrowRight")  # native radio group: arrows move and select
    assert page.locator(f"#smi-hc-health-{first}-2").is_checked()
    page.keyboard.press("Space")
    stored = page.evaluate("() => JSON.parse(localStorage.getItem(Object.keys(localStorage).find(k => k.endsWith(':health'))))")
    assert stored["answers"][first] == 2
    assert not watched.errors, watched.errors


def _class_folder(tmp_path):
    d = tmp_path / "class"
    d.mkdir()
    (d / "team-a.json").write_text(json.dumps(qio.export(pattern(1))), encoding="utf-8")
    (d / "team-b.json").write_text(json.dumps(qio.export(pattern(2))), encoding="utf-8")
    (d / "broken.json").write_text('{"format": "smi-healthcheck", "answers": [', encoding="utf-8")
    return d


def _firms_in_chart(page) -> list[str]:
    return page.evaluate("""() => {
        const view = window.smiViews['smi-hc-debrief-chart'];
        const names = Object.keys(view.getState({data: () => true, signals: () => false}).data || {});
        const firms = new Set();
        names.forEach(n => { try { view.data(n).forEach(r => { if (r.firm) firms.add(r.firm); }); } catch (e) {} });
        return Array.from(firms).sort();
    }""")


def test_debrief_skips_the_malformed_file_and_charts_the_others(site_url, watched, tmp_path):
    page = watched.page
    page.goto(f"{site_url}/{DEBRIEF}")
    folder = _class_folder(tmp_path)
    page.locator("#smi-hc-debrief-files").set_input_files([str(folder / n) for n in ("team-a.json", "broken.json", "team-b.json")])
    page.wait_for_selector("#smi-hc-debrief[data-firms='2']", timeout=20_000)
    report = page.locator("#smi-hc-debrief-report")
    bad = report.locator("li[data-name='broken.json']")
    assert bad.count() == 1 and "not valid JSON" in bad.text_content()
    assert "2 health checks loaded" in report.text_content()
    page.locator("#smi-hc-debrief-chart-vis svg").first.wait_for()
    assert _firms_in_chart(page) == ["team-a", "team-b"]
    # the class table equals the Python summary
    expected = qn.class_summary(qn.class_table([("team-a", pattern(1)), ("team-b", pattern(2))], Q))
    got = page.evaluate("""() => Object.fromEntries(Array.from(document.querySelectorAll('#smi-hc-debrief-summary tr[data-measure]'))
        .map(tr => [tr.dataset.measure, [Number(tr.cells[1].textContent), Number(tr.cells[2].dataset.value)]]))""")
    for r in expected.itertuples():
        assert got[r.measure][0] == 2
        assert got[r.measure][1] == pytest.approx(r.mean, abs=1e-9), r.measure

    # pasted codes join the class; a bad one is named and skipped
    page.locator("#smi-hc-debrief-codes").fill(qio.encode_code(pattern(3)) + "\nnot-a-code\n")
    page.locator("#smi-hc-debrief .smi-hc-addcodes").click()
    page.wait_for_selector("#smi-hc-debrief[data-firms='3']", timeout=20_000)
    assert report.locator("li[data-name='pasted code 2']").count() == 1
    assert _firms_in_chart(page) == ["pasted code 1", "team-a", "team-b"]
    assert not watched.errors, watched.errors
    assert not watched.external, watched.external


def test_debrief_reads_a_folder(site_url, watched, tmp_path):
    page = watched.page
    page.goto(f"{site_url}/{DEBRIEF}")
    folder = _class_folder(tmp_path)
    page.locator("#smi-hc-debrief-folder").set_input_files(str(folder))
    page.wait_for_selector("#smi-hc-debrief[data-firms='2']", timeout=20_000)
    assert page.locator("#smi-hc-debrief-report li[data-name$='broken.json']").count() == 1
    assert _firms_in_chart(page) == ["team-a", "team-b"]
    assert not watched.errors, watched.errors


def test_debrief_keeps_two_files_of_the_same_name_apart(site_url, watched, tmp_path):
    """a/team.json and b/team.json are two firms: the list, the chart and the class table all say two."""
    page = watched.page
    page.goto(f"{site_url}/{DEBRIEF}")
    d = tmp_path / "class"
    for sub, seed in (("a", 1), ("b", 2)):
        (d / sub).mkdir(parents=True)
        (d / sub / "team.json").write_text(json.dumps(qio.export(pattern(seed))), encoding="utf-8")
    page.locator("#smi-hc-debrief-folder").set_input_files(str(d))
    page.wait_for_selector("#smi-hc-debrief[data-firms='2']", timeout=20_000)
    assert "2 health checks loaded: class/a/team, class/b/team." in page.locator("#smi-hc-debrief-report").text_content()
    page.locator("#smi-hc-debrief-chart-vis svg").first.wait_for()
    assert _firms_in_chart(page) == ["class/a/team", "class/b/team"]
    counts = page.evaluate("""() => Array.from(document.querySelectorAll('#smi-hc-debrief-summary tr[data-measure]'))
        .map(tr => Number(tr.cells[1].textContent))""")
    assert counts and set(counts) == {2}
    assert not watched.errors, watched.errors


@pytest.mark.parametrize("path", [HEALTH, DEBRIEF])
def test_pages_load_clean_and_offline(site_url, watched, path):
    page = watched.page
    bundle = []
    page.on("request", lambda r: bundle.append(r.url) if "vega-embed-bundle" in r.url else None)
    page.goto(f"{site_url}/{path}", wait_until="load")
    page.wait_for_timeout(300)
    assert page.evaluate("() => !!window.smiHealth")
    # Vega waits for the first complete answers (a first visit has none): not on the page yet
    assert not bundle and not page.evaluate("() => !!window.vegaEmbed")
    assert not watched.errors, watched.errors
    assert not watched.external, watched.external


def test_vega_is_loaded_once_when_the_answers_are_complete(site_url, watched):
    page = watched.page
    bundle = []
    page.on("request", lambda r: bundle.append(r.url) if "vega-embed-bundle" in r.url else None)
    page.goto(f"{site_url}/{HEALTH}", wait_until="load")
    answers = {q: 3 for q in Q.ids}
    last = answers.popitem()
    fill(page, answers)
    page.wait_for_timeout(300)
    assert not bundle  # one question still open: no profile, no Vega
    fill(page, dict([last]))
    wait_profile(page)
    assert len(bundle) == 1, bundle
    assert_profile_matches(page, {**answers, last[0]: last[1]})
    assert not watched.errors, watched.errors
