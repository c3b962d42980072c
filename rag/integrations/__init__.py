"""Adapters that let other applications use the engine: MCP server, LlamaIndex retriever."""
