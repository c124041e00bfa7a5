"""``trustroom enclave run`` without the command-line framework: typer and rich take a
quarter of a second to import, more than the sandbox itself needs to start. Only the plain
forms are handled here; anything else (``--help``, a mistake) goes to the full command in
:mod:`trustroom.cli.enclave`, which defines what each option means."""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence
from pathlib import Path

__all__ = ["enclave_run"]


def enclave_run(arguments: Sequence[str]) -> int | None:
    """Run ``DIR [--runner sim] [--kbs URL] [-- ARGS...]``; the exit status, or None when
    the arguments are for the full command to read."""
    options = {"--runner": "sim", "--kbs": os.environ.get("TRUSTROOM_KBS_URL")}
    directory: str | None = None
    rest = list(arguments)
    while rest and rest[0] != "--":
        token = rest.pop(0)
        name, equals, value = token.partition("=")
        if name in options:
            if not equals:
                if not rest or rest[0] == "--":
                    return None
                value = rest.pop(0)
            options[name] = value
        elif token.startswith("-") or directory is not None:
            return None
        else:
            directory = token
    if directory is None or options["--runner"] != "sim":
        return None
    from trustroom.cli._notes import SIM_NOTE
    from trustroom.enclave._run import run

    print(f"trustroom enclave run: {SIM_NOTE}", file=sys.stderr)
    return run(Path(directory), rest[1:], kbs=options["--kbs"])
