"""The serving process's interpreter settings (run in a child: they are process-wide)."""

from __future__ import annotations

import json
import subprocess
import sys

from tests.conftest import ROOT

PROGRAM = """
import gc, json, sys
import bot.app  # what a serving process has loaded
from bot.web.process_tuning import SWITCH_INTERVAL_SECONDS, tune_for_serving
before = sys.getswitchinterval()
frozen = tune_for_serving()
print(json.dumps({"before": before, "after": sys.getswitchinterval(), "wanted": SWITCH_INTERVAL_SECONDS,
                  "frozen": frozen, "count": gc.get_freeze_count(), "young": len(gc.get_objects(0))}))
"""


def test_serving_shortens_the_switch_interval_and_freezes_the_start_up_heap() -> None:
    done = subprocess.run(
        [sys.executable, "-c", PROGRAM], cwd=ROOT, capture_output=True, text=True, timeout=60, check=True
    )
    report = json.loads(done.stdout)
    assert report["before"] == 0.005  # CPython's default, which tests and CLI commands keep
    assert abs(report["after"] - report["wanted"]) < 1e-9
    assert report["frozen"] == report["count"] > 100_000  # the app's modules, ORM and settings objects
    assert report["young"] < 1_000  # the collector's youngest generation starts nearly empty
