"""The examples in the user docs run as written."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

DOCS = Path(__file__).resolve().parent.parent / "docs"
BLOCKS = [
    pytest.param(block, id=f"{page.name}#{n}")
    for page in sorted(DOCS.glob("*.md"))
    for n, block in enumerate(re.findall(r"```python\n(.*?)```", page.read_text(), re.S))
]


@pytest.mark.parametrize("code", BLOCKS)
def test_python_examples_run(code: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.chdir(DOCS.parent)
    monkeypatch.setenv("TRUSTROOM_HOME", str(tmp_path))
    exec(compile(code, "<docs>", "exec"), {})
