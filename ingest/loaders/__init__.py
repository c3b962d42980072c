"""Turn one file into a ParsedDocument, or fail with one typed, one-line error naming the file.

Parser libraries raise whatever they like on bad input; everything unexpected is wrapped into
CorruptDocument here, so one broken file in a folder never stops the rest of a batch. Each
format's module is imported only when a file of that format arrives.
"""

from __future__ import annotations

import importlib
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from ingest.errors import (
    CorruptDocument,
    DocumentError,
    EmptyDocument,
    FileTooLarge,
    RagError,
    UnsupportedFormat,
)
from ingest.hashing import file_digest_of
from ingest.types import ParsedDocument

if TYPE_CHECKING:
    from ingest.loaders.text import TextFile

log = logging.getLogger(__name__)

# extension -> (module, function, what to call the format in messages)
_LOADERS = {
    ".pdf": ("pdf", "load_pdf", "a PDF"),
    ".docx": ("docx", "load_docx", "a Word document"),
    ".pptx": ("pptx", "load_pptx", "a PowerPoint file"),
    ".html": ("html", "load_html", "an HTML page"),
    ".htm": ("html", "load_html", "an HTML page"),
    ".md": ("markdown", "load_markdown", "a Markdown file"),
    ".markdown": ("markdown", "load_markdown", "a Markdown file"),
    ".txt": ("text", "load_text", "a text file"),
}
SUPPORTED_EXTENSIONS = frozenset(_LOADERS)
# Read in a stream, so held to IngestConfig.max_text_bytes rather than max_bytes.
STREAMED_EXTENSIONS = frozenset({".txt"})
PARSERS = ("builtin", "unstructured")


def load_document(
    path: Path, *, max_bytes: int = 50 * 2**20, parser: str = "builtin"
) -> ParsedDocument:
    """Load one supported file.

    Raises a DocumentError subclass (UnsupportedFormat, FileTooLarge, EmptyDocument,
    EncryptedDocument, CorruptDocument) for a bad file, MissingDependency when the
    "unstructured" parser is asked for but not installed, and ValueError for an unknown parser.
    """
    path = Path(path)
    extension = _check(path, max_bytes, parser)
    document = _parse(path, extension, parser)
    if not any(block.text.strip() for block in document.blocks):
        hint = " (a scanned PDF needs OCR first)" if extension == ".pdf" else ""
        raise EmptyDocument(f"{path.name}: contains no text{hint}")
    return document


@dataclass(frozen=True)
class OpenedFile:
    """A file that passed the checks every format shares, with the sha256 of its bytes."""

    path: Path
    digest: str
    size: int
    text: TextFile | None  # plain text, read as a stream; None: `load_document` parses it whole


def open_file(
    path: Path, *, max_bytes: int, max_text_bytes: int, parser: str = "builtin"
) -> OpenedFile:
    """Check a file as `load_document` would and hash it, never holding it whole in memory.

    Plain text (with the built-in parser) streams, so it is held to `max_text_bytes`; every
    other format is parsed whole, and held to `max_bytes`. Raises what `load_document` does.
    """
    path = Path(path)
    streamed = parser == "builtin" and path.suffix.lower() in STREAMED_EXTENSIONS
    extension = _check(path, max_text_bytes if streamed else max_bytes, parser)
    label = _LOADERS[extension][2]
    with _reading(path, label):
        if streamed:
            from ingest.loaders.text import TextFile

            text = TextFile.open(path)
            return OpenedFile(path, text.digest, text.size, text)
        return OpenedFile(path, file_digest_of(path), path.stat().st_size, None)


def _check(path: Path, max_bytes: int, parser: str) -> str:
    """The checks before parsing; returns the file's lower-cased extension."""
    if parser not in PARSERS:
        raise ValueError(f"unknown parser {parser!r}; choose one of {', '.join(PARSERS)}")
    name = path.name
    if not path.exists():
        raise DocumentError(f"{name}: file not found")
    if not path.is_file():
        raise DocumentError(f"{name}: is not a regular file")
    extension = path.suffix.lower()
    if extension not in _LOADERS:
        supported = " ".join(sorted(SUPPORTED_EXTENSIONS))
        shown = extension or "no extension"
        raise UnsupportedFormat(f"{name}: unsupported file type ({shown}); supported: {supported}")
    size = path.stat().st_size
    if size > max_bytes:
        raise FileTooLarge(
            f"{name}: file is {size / 2**20:.1f} MB, over the {max_bytes / 2**20:.1f} MB limit"
        )
    if size == 0:
        raise EmptyDocument(f"{name}: file is empty (0 bytes)")
    return extension


def require_parser(parser: str) -> None:
    """Fail before a batch starts when `parser` cannot run at all (unknown, or its optional
    package missing): that is one message for the whole batch, not one failed line per file."""
    if parser not in PARSERS:
        raise ValueError(f"unknown parser {parser!r}; choose one of {', '.join(PARSERS)}")
    if parser == "unstructured":
        from ingest.loaders.unstructured_backend import require_unstructured

        require_unstructured()


def _parse(path: Path, extension: str, parser: str) -> ParsedDocument:
    module_name, function, label = _LOADERS[extension]
    if parser == "unstructured":
        module_name, function = "unstructured_backend", "load_with_unstructured"
    with _reading(path, label):
        module = importlib.import_module(f"{__name__}.{module_name}")
        document: ParsedDocument = getattr(module, function)(path)
    return document


@contextmanager
def _reading(path: Path, label: str) -> Iterator[None]:
    """Our own errors pass; an OSError is a file that cannot be read; anything else a parser
    raised means the file is damaged (or the parser has a bug, which the log shows)."""
    try:
        yield
    except RagError:
        raise
    except OSError as exc:
        raise DocumentError(f"{path.name}: cannot be read ({exc.strerror or exc})") from exc
    except RecursionError as exc:
        raise CorruptDocument(f"{path.name}: is nested too deeply to be read as {label}") from exc
    except MemoryError as exc:
        raise CorruptDocument(f"{path.name}: needs more memory than there is to read") from exc
    except Exception as exc:
        log.debug("parser failed on %s", path, exc_info=True)
        reason = " ".join(str(exc).split())[:200] or type(exc).__name__
        raise CorruptDocument(f"{path.name}: could not be read as {label}: {reason}") from exc
