"""RAG and knowledge-graph question answering over your own documents, offline.

from rag import Engine
engine = Engine.open("./kb")
engine.ingest(["papers/"])
answer = engine.ask("什么是 QLoRA？")
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from rag.engine import Engine
    from rag.settings import Settings

__all__ = ["Engine", "Settings"]


def __getattr__(name: str) -> Any:
    # Lazy, so `import rag` (and `rag --help`) does not pay for numpy or FAISS.
    if name == "Engine":
        from rag.engine import Engine

        return Engine
    if name == "Settings":
        from rag.settings import Settings

        return Settings
    raise AttributeError(name)
