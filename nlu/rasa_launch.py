"""Starts ``rasa`` with its auth token taken from the environment instead of the command line.

A process's arguments are visible to every user of the machine (``ps``, ``/proc/<pid>/cmdline``);
its environment only to its owner. Rasa 3.6 reads ``--auth-token`` from its arguments only, so this
launcher, run by Rasa's own interpreter (Python 3.10, standard library and Rasa only), appends the
token to ``sys.argv`` inside the process, where ``ps`` never sees it, and calls Rasa's entry point.
"""

from __future__ import annotations

import importlib
import os
import sys

TOKEN_VARIABLE = "TOUSU_RASA_TOKEN"


def arguments(argv: list[str], token: str) -> list[str]:
    """Rasa's argv: ours, then the token as one argument (a token may begin with "-")."""
    return ["rasa", *argv, f"--auth-token={token}"]


def main() -> None:
    token = os.environ.get(TOKEN_VARIABLE)
    if not token:
        sys.exit(f"{TOKEN_VARIABLE} is not set: refusing to start Rasa without an auth token")
    # Run as a script, this folder is first on sys.path, and its modules (types.py, client.py...)
    # would shadow the libraries Rasa imports.
    here = os.path.dirname(os.path.abspath(__file__))
    sys.path[:] = [p for p in sys.path if os.path.abspath(p or os.curdir) != here]
    sys.argv = arguments(sys.argv[1:], token)
    importlib.import_module("rasa.__main__").main()


if __name__ == "__main__":
    main()
