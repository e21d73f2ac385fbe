"""The README's harness example runs as written."""

from __future__ import annotations

import re

from tests.conftest import ROOT


def test_readme_harness_example_runs(monkeypatch):
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    block = next(
        b for b in re.findall(r"```python\n(.*?)```", text, re.DOTALL) if "LocalCloud" in b
    )
    monkeypatch.chdir(ROOT)
    namespace: dict[str, object] = {}
    exec(compile(block, "README.md", "exec"), namespace)
    namespace["test_hello"]()  # type: ignore[operator]
