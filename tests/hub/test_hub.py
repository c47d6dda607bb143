"""A school's Hub, run for real on 127.0.0.1: anonymous visitors get the login page, never a lab;
three students log in, land on the labs' index and open each lab in Chromium through the Hub,
and moving a control changes the chart and the numbers; one student cannot reach another's
server or kernels; idle kernels and then idle servers are culled and memory returns to the
Hub's idle level. The tests run in file order and share one Hub (conftest.hub)."""
from __future__ import annotations

import json
import re
import time

import pytest
import requests
import websocket

from ..browser.conftest import PageWatch
from .conftest import ACTIVITY_S, CULL_EVERY_S, KERNEL_IDLE_S, SERVER_IDLE_S

USERS = ["alice", "bob", "carol"]
LABS = {"linkage_lab": "Linkage lab", "capability_lab": "Capability lab", "dysfunction_lab": "Dysfunction lab"}
LAB_MARKERS = ("smi-lab", "jupyter-widgets", "application/vnd.jupyter.widget")  # only a served lab has these
WS_TIMEOUT_S = 120  # a websocket handshake or reply (see the isolation test)
PEAK: dict[str, float] = {}  # memory while students are connected, for the culling test
SESSIONS: dict[str, requests.Session] = {}  # logged-in students, for the culling test
KERNELS: dict[str, str] = {}  # a kernel of bob's that the culling test watches


def _is_lab_content(text: str) -> bool:
    return any(m in text for m in LAB_MARKERS)


def test_anonymous_visitor_gets_login_never_a_lab(hub):
    for path in ["/", "/user/alice/voila/render/linkage_lab.ipynb", "/user/alice/labs",
                 "/hub/user-redirect/voila/render/linkage_lab.ipynb"]:
        r = requests.get(hub.url + path, timeout=60)
        assert r.status_code == 200 and "/hub/login" in r.url, (path, r.status_code, r.url)
        assert 'name="password"' in r.text and not _is_lab_content(r.text), path
    r = requests.get(hub.url + "/user/alice/api/kernels", timeout=60, allow_redirects=False)
    assert r.status_code in (302, 403, 404) and not r.text.lstrip().startswith("["), r.status_code
    # a wrong password is refused, and gives no session
    s = requests.Session()
    xsrf = re.search(r'name="_xsrf" value="([^"]+)"', s.get(hub.url + "/hub/login", timeout=60).text).group(1)
    r = s.post(hub.url + "/hub/login", data={"username": "mallory", "password": "not-the-password",
                                             "_xsrf": xsrf}, timeout=60)
    assert r.status_code == 403 and "/hub/login" in r.url
    r = s.get(hub.url + "/user/mallory/labs", timeout=60)
    assert "/hub/login" in r.url and not _is_lab_content(r.text)


def _move_first_slider(page) -> None:
    """Keyboard on the lab's first visible slider, away from whichever end it sits at (three steps:
    each is one recomputation in the kernel, slow on a loaded machine)."""
    handle = page.locator(".widget-slider .noUi-handle:visible").first
    now, top = (float(handle.get_attribute(a)) for a in ("aria-valuenow", "aria-valuemax"))
    handle.focus()
    for _ in range(3):
        page.keyboard.press("ArrowRight" if now < top else "ArrowLeft")


def _numbers(page) -> list[list[str]]:
    return page.evaluate("""() => [...document.querySelectorAll('.smi-lab-table tbody tr')]
        .map(r => [...r.querySelectorAll('td')].map(td => td.textContent))""")


@pytest.mark.parametrize("user", USERS)
def test_student_logs_in_and_uses_every_lab(user, hub, browser):
    ctx = browser.new_context(viewport={"width": 1280, "height": 1000})
    try:
        watch = PageWatch(ctx.new_page())
        page = watch.page
        page.goto(hub.url + "/", timeout=60_000)  # what a student types: the Hub's address
        page.fill("#username_input", user)
        page.fill("#password_input", hub.password)
        page.click("#login_submit")
        page.wait_for_url(f"{hub.url}/user/{user}/labs", timeout=240_000)  # the default URL
        index = page.url
        assert page.locator(".smi-labs-index a").count() == len(LABS)
        for lab, title in LABS.items():
            page.goto(index, timeout=60_000)
            watch.errors.clear()
            page.get_by_role("link", name=title).click()
            page.wait_for_url(f"{hub.url}/user/{user}/voila/render/{lab}.ipynb", wait_until="commit", timeout=60_000)
            page.locator(".smi-lab-ready").wait_for(timeout=240_000)
            chart = page.locator(".smi-lab-chart svg").first
            chart.wait_for(timeout=60_000)
            page.wait_for_function("() => document.querySelectorAll('.smi-lab-table tbody tr').length > 0",
                                   timeout=60_000)
            svg, numbers = chart.inner_html(), _numbers(page)
            _move_first_slider(page)
            page.wait_for_function("(b) => document.querySelector('.smi-lab-chart svg').innerHTML !== b",
                                   arg=svg, timeout=180_000)
            deadline = time.monotonic() + 60
            while _numbers(page) == numbers and time.monotonic() < deadline:
                page.wait_for_timeout(250)
            assert _numbers(page) != numbers, f"{user}/{lab}: the numbers did not change"
            assert page.locator(".smi-notice").count() == 0
            assert not watch.errors, (user, lab, watch.errors)
            assert not watch.external, (user, lab, watch.external)  # CDN-free template
        PEAK[user] = hub.rss_mb()
    finally:
        ctx.close()


def _kernels(session, hub, user) -> list[dict]:
    r = session.get(f"{hub.url}/user/{user}/api/kernels", timeout=60)
    assert r.status_code == 200, (user, r.status_code, r.url)
    return r.json()


def _kernel_ids(session, hub, user) -> list[str]:
    return [k["id"] for k in _kernels(session, hub, user)]


def _kernel_info(ws, user: str) -> None:
    """One kernel_info request on an open channels websocket; fails unless the kernel replies."""
    msg_id = f"hub-test-kernel-info-{time.monotonic_ns()}"
    ws.send(json.dumps({"header": {"msg_id": msg_id, "msg_type": "kernel_info_request", "username": user,
                                   "session": "hub-test", "version": "5.3"},
                        "parent_header": {}, "metadata": {}, "content": {}, "channel": "shell"}))
    deadline = time.monotonic() + WS_TIMEOUT_S
    while time.monotonic() < deadline:
        reply = json.loads(ws.recv())
        if reply.get("parent_header", {}).get("msg_id") == msg_id and reply["msg_type"] == "kernel_info_reply":
            return
    pytest.fail(f"{user}'s kernel did not answer kernel_info on his own websocket")


def test_student_cannot_reach_another_students_server_or_kernels(hub):
    alice, bob = hub.login("alice"), hub.login("bob")
    SESSIONS["alice"] = alice
    # bob has a running server with a kernel (the positive control: he can reach both)
    r = bob.get(f"{hub.url}/user/bob/voila/render/linkage_lab.ipynb", timeout=300)
    assert r.status_code == 200 and "smi-lab" in r.text
    bob_kernels = _kernels(bob, hub, "bob")
    assert bob_kernels
    # the kernel this render started (the newest); the kernels of bob's earlier, closed pages are
    # being culled after KERNEL_IDLE_S and one of them could go mid-test (a 500 on its websocket)
    kid = max(bob_kernels, key=lambda k: k["last_activity"])["id"]
    ws_url = hub.url.replace("http://", "ws://") + f"/user/bob/api/kernels/{kid}/channels"
    # bob's own cookies open its websocket and his kernel answers (the same check can succeed);
    # held open through alice's attempts, so the server's culler (cull_connected false) leaves it
    bob_cookie = "; ".join(f"{c.name}={c.value}" for c in bob.cookies)
    # generous timeouts: this checks who gets in, not how fast; a handshake on a loaded 2-core
    # machine (the Hub, the proxy, two servers and their kernels) once took over 30 s
    bob_ws = websocket.create_connection(ws_url, cookie=bob_cookie, timeout=WS_TIMEOUT_S)
    try:
        _kernel_info(bob_ws, "bob")
        bob_paths = ["/user/bob/labs", "/user/bob/voila/render/linkage_lab.ipynb", "/user/bob/api/kernels",
                     f"/user/bob/api/kernels/{kid}", "/user/bob/api/sessions", "/user/bob/api/contents",
                     "/user/bob/voila/tree", "/hub/api/users/bob"]
        for path in bob_paths:
            first = alice.get(hub.url + path, timeout=60, allow_redirects=False)
            if first.status_code in (301, 302, 303, 307):  # only ever towards the Hub's authorization
                assert first.headers["Location"].startswith("/hub/"), (path, first.headers["Location"])
            else:
                assert first.status_code in (403, 404), (path, first.status_code)
            final = alice.get(hub.url + path, timeout=60)
            assert final.status_code in (403, 404), (path, final.status_code, final.url)
            assert kid not in final.text and not _is_lab_content(final.text), path
        # alice's own server does not know bob's kernel
        r = alice.get(f"{hub.url}/user/alice/api/kernels/{kid}", timeout=60)
        assert r.status_code == 404 and kid in r.url
        # bob's kernel's websocket, with alice's cookies, is refused
        cookie = "; ".join(f"{c.name}={c.value}" for c in alice.cookies)
        with pytest.raises(websocket.WebSocketBadStatusException) as refused:
            websocket.create_connection(ws_url, cookie=cookie, timeout=WS_TIMEOUT_S).close()
        assert refused.value.status_code in (302, 403, 404)
        _kernel_info(bob_ws, "bob")  # alice's attempts did not touch it
    finally:
        bob_ws.close()
    assert kid in _kernel_ids(bob, hub, "bob")
    PEAK["isolation"] = hub.rss_mb()
    KERNELS["bob"] = kid


def test_idle_kernels_then_idle_servers_are_culled_and_memory_returns(hub):
    servers = [p for p in hub.user_processes() if "jupyterhub-singleuser" in " ".join(p.cmdline())]
    assert servers, "no student server running before the culling test (earlier tests failed?)"
    peak = max(PEAK.values(), default=hub.rss_mb())
    assert peak > hub.idle_rss_mb + 300, (peak, hub.idle_rss_mb)  # students cost memory
    # 1. inside bob's running server, his kernel (its page and websocket gone) is culled by the
    #    server after KERNEL_IDLE_S; watched from outside, so nothing counts as bob's activity
    kid = KERNELS["bob"]

    def bobs(kind: str) -> list:
        out = []
        for p in hub.user_processes():
            try:
                if p.environ().get("JUPYTERHUB_USER") == "bob" and kind in " ".join(p.cmdline()):
                    out.append(p)
            except Exception:
                pass
        return out

    deadline = time.monotonic() + KERNEL_IDLE_S + 60
    while bobs(kid) and time.monotonic() < deadline:
        time.sleep(2)
    assert not bobs(kid), "bob's idle kernel was not culled"
    assert bobs("jupyterhub-singleuser"), "bob's server stopped before his idle kernel was culled"
    assert any("Culling" in line and kid in line for line in hub.log.read_text(errors="replace").splitlines())
    # 2. the Hub's idle culler stops every server left idle, and their kernels go with them
    deadline = time.monotonic() + SERVER_IDLE_S + CULL_EVERY_S + 2 * ACTIVITY_S + 90
    while hub.user_processes() and time.monotonic() < deadline:
        time.sleep(5)
    left = [" ".join(p.cmdline())[:100] for p in hub.user_processes()]
    assert not left, f"still running after {SERVER_IDLE_S} s idle: {left}"
    # the Hub's record of who stopped each server (logged when the stop completes, just after the
    # processes are gone)
    def not_culled() -> list[str]:
        log = hub.log.read_text(errors="replace")
        return [u for u in USERS if f"DELETE /hub/api/users/{u}/server (idle-culler@" not in log]

    deadline = time.monotonic() + 30
    while not_culled() and time.monotonic() < deadline:
        time.sleep(1)
    assert not not_culled(), f"servers not stopped by the idle culler: {not_culled()}"
    time.sleep(2)
    assert hub.rss_mb() < hub.idle_rss_mb + 60, (hub.rss_mb(), hub.idle_rss_mb)
    # 3. a student coming back (still logged in) is sent to the Hub to start again, not served
    alice = SESSIONS["alice"]
    r = alice.get(f"{hub.url}/user/alice/voila/render/linkage_lab.ipynb", timeout=60)
    assert "/hub/" in r.url and not _is_lab_content(r.text), (r.status_code, r.url)
