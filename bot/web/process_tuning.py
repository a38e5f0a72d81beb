"""Interpreter settings for the long-running bot process (``tousu run``, and the benchmarks that
stand in for it). Tests and one-off commands keep Python's defaults.

Both settings answer tail latency measured in bench/RESULTS.md:
- Threads beside the event loop (PostgreSQL's database workers, SQLite's report reader and
  checkpoint thread, the channel SDKs' threads) hand the GIL back and forth with it at every
  driver call. While the loop is busy, CPython makes a waiting thread wait up to the switch
  interval (5 ms by default) per hand-over, so one transaction could wait several intervals.
  0.5 ms caps that.
- A full garbage collection walks every object the process holds, and after start-up that is
  hundreds of thousands of module, ORM and settings objects: 15-35 ms pauses were logged in a
  benchmark's client. Freezing what exists after start-up leaves the collector the objects made
  while serving.
"""

from __future__ import annotations

import gc
import logging
import sys

log = logging.getLogger(__name__)

SWITCH_INTERVAL_SECONDS = 0.0005


def tune_for_serving() -> int:
    """Call once the app has started; returns how many objects the collector now skips."""
    sys.setswitchinterval(SWITCH_INTERVAL_SECONDS)
    gc.collect()
    gc.freeze()
    frozen = gc.get_freeze_count()
    log.info(
        "serving: thread switch interval %.1f ms, %d start-up objects frozen",
        SWITCH_INTERVAL_SECONDS * 1000,
        frozen,
    )
    return frozen
