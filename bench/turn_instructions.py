"""Instructions per turn, counted by Valgrind's callgrind: a cost measure that does not move
with the machine's speed.

Timings on this VM drift by up to 2x within an hour (bench/RESULTS.md), which hides changes of
a few per cent; an instruction count for the same code and inputs repeats. It is not a time:
cache misses and system calls (SQLite's writes) are not in it, so it complements turn_bench.py
and does not replace it.

The turns are those of turn_bench.py (NLU replaced by a constant, 200 customers spread over the
intake script), taken one at a time, each alone in its commit as in a lightly loaded paced run.
The pause after each turn outlasts the delivery marking its rows sent, so every turn's mark
has a commit of its own: with a shorter pause
how many turns shared one depended on the machine's speed (valgrind's slowdown, other load), and
the same code's count moved by 2-3 % between runs. Only the measured turns are counted: they run
inside ``operator.call``, and callgrind collects only inside that function (``--toggle-collect``).

    .venv/bin/python bench/turn_instructions.py --turns 440
"""

from __future__ import annotations

import argparse
import asyncio
import operator
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.turn_bench import SCRIPT, start_app, turn, walk_to_phases  # noqa: E402
from bot.app import TousuApp  # noqa: E402

CONVERSATIONS = 200
PAUSE_SECONDS = 0.06
COLLECT_INSIDE = "_operator_call"  # operator.call's C function in CPython 3.11


async def one_at_a_time(app: TousuApp, done: list[int], phases: list[int], turns: int) -> None:
    for k in range(turns):
        i = k % CONVERSATIONS
        await turn(app, f"sat{i}", phases[i] + done[i])
        done[i] += 1
        await asyncio.sleep(PAUSE_SECONDS)


def inner(turns: int) -> None:
    """Runs under callgrind: set up, then the measured turns inside operator.call."""
    phases = [i % len(SCRIPT) for i in range(CONVERSATIONS)]
    done = [0] * CONVERSATIONS
    loop = asyncio.new_event_loop()
    with tempfile.TemporaryDirectory() as folder:
        app = loop.run_until_complete(start_app(folder))
        loop.run_until_complete(walk_to_phases(app, phases))
        # one untimed round, so every conversation is cached as in steady service
        loop.run_until_complete(one_at_a_time(app, done, phases, CONVERSATIONS))
        operator.call(loop.run_until_complete, one_at_a_time(app, done, phases, turns))
        print(f"measured: {turns} turns")
        loop.run_until_complete(app.stop())
    loop.close()


def outer(turns: int) -> int:
    valgrind = shutil.which("valgrind")
    if valgrind is None:
        print("valgrind is not installed (Debian package valgrind)", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory() as folder:
        out = Path(folder) / "callgrind.out"
        run = subprocess.run(
            [
                valgrind,
                "--tool=callgrind",
                "--collect-atstart=no",
                f"--toggle-collect={COLLECT_INSIDE}",
                f"--callgrind-out-file={out}",
                sys.executable,
                __file__,
                "--inner",
                "--turns",
                str(turns),
            ],
            capture_output=True,
            text=True,
            check=False,
        )
        print(run.stdout, end="")
        found = re.search(r"^summary:\s+(\d+)", out.read_text() if out.exists() else "", re.M)
        if run.returncode != 0 or found is None:
            print(run.stderr[-2000:], file=sys.stderr)
            return 1
    total = int(found.group(1))
    print(f"instructions: {total} in {turns} turns = {total / turns / 1e6:.3f} M per turn")
    return 0


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--turns", type=int, default=440)
    parser.add_argument("--inner", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.inner:
        inner(args.turns)
    else:
        sys.exit(outer(args.turns))
