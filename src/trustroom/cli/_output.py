"""Shared terminal output: errors with their hint, JSON for machines."""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from rich.console import Console

from trustroom._core.errors import TrustroomError

__all__ = ["console", "err_console", "print_error", "print_errors", "print_json"]

console = Console(highlight=False)
err_console = Console(stderr=True, highlight=False)


def print_error(exc: TrustroomError) -> None:
    err_console.print(f"[bold red]error[/] [dim]({exc.code})[/]: {exc.message}")
    err_console.print(f"[yellow]hint[/]: {exc.hint}")


def print_errors(errors: Iterable[TrustroomError]) -> None:
    """Each error's code and message, then each code's hint once."""
    hints: dict[str, str] = {}
    for error in errors:
        console.print(f"  [bold red]{error.code}[/]: {error.message}")
        hints.setdefault(error.code, error.hint)
    for code, hint in hints.items():
        console.print(f"  [yellow]hint[/] ({code}): {hint}")


def print_json(data: Any) -> None:
    # Plain print: rich would wrap long hex strings and break the JSON for machines.
    print(json.dumps(data, indent=2, sort_keys=False))
