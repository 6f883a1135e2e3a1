"""The background import of the chart library: once per process, and it really loads the module."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.app.conftest import OpenApp

SCRIPT = """
import sys
from app import warmup
assert "altair" not in sys.modules, "imported before the warm-up"
thread = warmup.start()
assert thread is not None and warmup.start() is None  # once per process
thread.join(60)
assert not thread.is_alive()
assert all(name in sys.modules for name in warmup.MODULES), sorted(warmup.MODULES)
print("ok")
"""


def test_warmup_imports_the_chart_library_once_in_the_background() -> None:
    done = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "ok"


def test_the_app_starts_the_warmup_when_it_runs(shared_demo: Path, open_app: OpenApp,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    from app import warmup

    started: list[bool] = []
    monkeypatch.setattr(warmup, "start", lambda: started.append(True))
    at = open_app(shared_demo)  # signed out: the sign-in page
    at.run()
    assert started, "app/main.py did not start the warm-up"
