"""Entity name normalisation: the key two surface forms must share to be one entity.

Full-width and half-width forms fold together (NFKC), traditional Chinese folds to
simplified (OpenCC, offline), case and inner whitespace/hyphens are ignored, so "Q-LoRA",
"qlora" and "ＱＬｏＲＡ" are one key, as are "參數" and "参数".
"""

from __future__ import annotations

import re
import unicodedata
from functools import cache
from typing import Any

from ingest.hashing import content_id

_IGNORED = re.compile(r"[\s\-_·・.'’\"“”()（）《》「」『』]+")


@cache
def _t2s() -> Any:
    import opencc

    return opencc.OpenCC("t2s")


def display_name(name: str) -> str:
    """A clean surface form: NFKC, trimmed, single spaces, no wrapping quotes or brackets."""
    name = unicodedata.normalize("NFKC", name)
    name = " ".join(name.split()).strip("\"'“”‘’《》「」()（）[]【】 ,.，。;；:：")
    return name


def name_key(name: str) -> str:
    text = display_name(name)
    if re.search(r"[\u3400-\u9fff]", text):
        text = _t2s().convert(text)
    return _IGNORED.sub("", text.casefold())


def entity_id(key: str) -> str:
    return content_id("entity", key)


def relation_id(a: str, b: str) -> str:
    """Undirected: the pair's id does not depend on which entity came first."""
    lo, hi = sorted((a, b))
    return content_id("relation", lo, hi)
