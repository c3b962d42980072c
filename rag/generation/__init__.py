"""Text generation behind the `Generator` protocol: llama.cpp, OpenAI-compatible, scripted."""

from rag.generation.base import GenerationError, Generator, Message

__all__ = ["GenerationError", "Generator", "Message"]
