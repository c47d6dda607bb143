"""What the tests and the benchmarks share: the browser they drive, free loopback ports, the
launcher in scripts/serve.py, and reproducible health-check answers.

Import as ``tests.support`` (benchmarks put the repository root on sys.path first). Keep this
module free of pytest so the benchmarks can use it.
"""
from __future__ import annotations

import importlib.util
import socket
import sys
from contextlib import contextmanager
from functools import lru_cache
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

# Debian's Chromium (`make` installs it: the /usr/bin/chromium target), headless, with nothing
# that would reach another host or start background work.
CHROMIUM = "/usr/bin/chromium"
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--no-first-run"]
# For pages that must stay on loopback without routing every request through Playwright (which,
# for tens of pages at once on 2 cores, costs more than the pages): every other host fails to
# resolve at once, inside Chromium.
LOOPBACK_ONLY = "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1"


def chromium_missing() -> str | None:
    """None when the browser is there; otherwise one line saying what to run."""
    if Path(CHROMIUM).exists():
        return None
    return f"{CHROMIUM} is missing: run `make test` or `make bench` (they install Debian chromium), " \
           "or `sudo apt-get install -y chromium`"


@contextmanager
def chromium():
    """Headless Debian Chromium under Playwright, closed on exit (RuntimeError if it is missing)."""
    from playwright.sync_api import sync_playwright

    if missing := chromium_missing():
        raise RuntimeError(missing)
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        try:
            yield b
        finally:
            b.close()


def free_port() -> int:
    """A TCP port free on 127.0.0.1 right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@lru_cache(maxsize=None)
def _script(name: str, as_name: str):
    """scripts/<name>.py as a module (scripts/ is not a package)."""
    spec = importlib.util.spec_from_file_location(as_name, ROOT / "scripts" / f"{name}.py")
    mod = importlib.util.module_from_spec(spec)
    sys.modules[as_name] = mod  # dataclasses and pickling look a module up by name
    spec.loader.exec_module(mod)
    return mod


def serve_module():
    """scripts/serve.py: voila_command(), stop_server(), so every launcher starts the labs the
    way `make serve` does."""
    return _script("serve", "smi_serve")


def lab_kernels_module():
    """scripts/lab_kernels.py: how forked lab kernels are named (kernel_process_name, KERNEL_PREFIX)."""
    return _script("lab_kernels", "smi_lab_kernels")


def pattern(seed: int) -> dict[str, int]:
    """Health-check answers, one per question (1-5), reproducible from `seed`."""
    import numpy as np

    rng = np.random.default_rng(seed)
    return {qid: int(rng.integers(1, 6)) for qid in _question_ids()}


@lru_cache(maxsize=1)
def _question_ids() -> tuple[str, ...]:
    from smi_charts import questionnaire_io

    return tuple(questionnaire_io.load().ids)
