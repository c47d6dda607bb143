"""Predict-then-reveal and self-checks: feedback explains, answers persist, reset clears."""
from __future__ import annotations

import pytest


def test_self_check_feedback_persists_and_resets(site_url, watched):
    page = watched.page
    page.goto(f"{site_url}/book/malshe2011.html")
    box = page.locator(".smi-selfcheck").first
    wrong = box.locator("input[data-correct=false]").first
    wrong.check()
    fb = box.locator(".smi-feedback")
    assert fb.text_content().startswith("Not quite.")
    assert len(fb.text_content()) > 30  # an explanation, not just a verdict
    page.reload()
    box = page.locator(".smi-selfcheck").first
    assert box.locator("input[data-correct=false]").first.is_checked()
    assert box.locator(".smi-feedback").text_content().startswith("Not quite.")
    box.locator("input[data-correct=true]").first.check()
    assert box.locator(".smi-feedback").text_content().startswith("Correct.")
    page.locator(".smi-reset").click()
    page.wait_for_load_state("load")
    box = page.locator(".smi-selfcheck").first
    assert not any(r.is_checked() for r in box.locator("input").all())
    assert box.locator(".smi-feedback").text_content() == ""
    assert not watched.errors, watched.errors


@pytest.mark.parametrize("pick", ["answer", "other"])
def test_predict_then_reveal(pick, site_url, watched):
    """The verdict says whether the prediction chosen is the one the studies and the model support."""
    page = watched.page
    page.goto(f"{site_url}/book/hughes2012.html")
    box = page.locator(".smi-predict").first
    answer = int(box.get_attribute("data-answer"))
    n = box.locator("input").count()
    choice = answer if pick == "answer" else (answer + 1) % n
    button = box.locator(".smi-reveal")
    assert button.is_disabled()  # predict first
    assert box.locator(".smi-explanation").is_hidden()
    assert box.locator(".smi-verdict").text_content() == ""
    box.locator("input").nth(choice).check()
    button.click()
    assert box.locator(".smi-explanation").is_visible()
    verdict = box.locator(".smi-verdict").text_content()
    if pick == "answer":
        assert verdict.startswith("Your prediction matches")
    else:
        assert verdict.startswith("Your prediction differs")
    page.reload()
    box = page.locator(".smi-predict").first
    assert box.locator(".smi-explanation").is_visible()  # remembered
    assert box.locator("input").nth(choice).is_checked()
    assert box.locator(".smi-verdict").text_content() == verdict
    assert not watched.errors, watched.errors
