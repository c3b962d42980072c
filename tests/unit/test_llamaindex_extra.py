"""The llamaindex extra is optional: nothing but its own package imports LlamaIndex, and that
package without it is one clear error naming the install command. Runs with or without it."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PROBE = """
import sys
import rag, rag.integrations, rag.engine, rag.cli.main
assert not [m for m in sys.modules if m.startswith("llama_index")], "llama_index imported"
sys.modules["llama_index"] = None  # as if the extra were not installed
try:
    import rag.integrations.llamaindex
except Exception as e:
    print(type(e).__name__, e)
"""


def test_llama_index_loads_only_with_the_integration_and_its_absence_is_one_error() -> None:
    out = subprocess.run(
        [sys.executable, "-c", PROBE], cwd=ROOT, capture_output=True, text=True, timeout=60,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith("MissingDependency ")
    assert 'pip install -e ".[llamaindex]"' in out.stdout
