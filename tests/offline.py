"""Shut the network for a test: any connection or name lookup beyond loopback fails it.

For libraries whose defaults reach out (LlamaIndex resolves OpenAI, downloads NLTK data and
tiktoken encodings), so a test proves our use of them stays offline instead of hanging there.
"""

from __future__ import annotations

import socket
from typing import Any

import pytest

LOOPBACK = {"127.0.0.1", "::1", "localhost"}


def shut_network(monkeypatch: pytest.MonkeyPatch) -> None:
    connect, getaddrinfo = socket.socket.connect, socket.getaddrinfo

    def guarded_connect(self: socket.socket, address: Any) -> None:
        if self.family != socket.AF_UNIX and address[0] not in LOOPBACK:
            raise AssertionError(f"network access: {address}")
        connect(self, address)

    def guarded_getaddrinfo(host: Any, *args: Any, **kwargs: Any) -> Any:
        if host not in LOOPBACK:
            raise AssertionError(f"name lookup: {host}")
        return getaddrinfo(host, *args, **kwargs)

    monkeypatch.setattr(socket.socket, "connect", guarded_connect)
    monkeypatch.setattr(socket, "getaddrinfo", guarded_getaddrinfo)
    # llama-index-core ships tiktoken's cl100k_base and points tiktoken at it only while this
    # variable is unset; set elsewhere, tiktoken would download the encoding
    monkeypatch.delenv("TIKTOKEN_CACHE_DIR", raising=False)
