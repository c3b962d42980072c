"""Code blocks of the README, so a test runs an example exactly as readers see it."""

from __future__ import annotations

from pathlib import Path

README = Path(__file__).resolve().parent.parent / "README.md"


def python_block(heading: str) -> str:
    """The first ```python block under the README heading `heading` (e.g. "### LlamaIndex")."""
    text = README.read_text("utf-8")
    _, found, section = text.partition(f"\n{heading}\n")
    assert found, f"README has no heading {heading!r}"
    _, found, rest = section.partition("```python\n")
    assert found, f"README has no python block under {heading!r}"
    return rest.partition("\n```")[0] + "\n"
