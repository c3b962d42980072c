"""Turn one file into a ParsedDocument, or fail with one typed, one-line error naming the file.

Parser libraries raise whatever they like on bad input; everything unexpected is wrapped into
CorruptDocument here, so one broken file in a folder never stops the rest of a batch. Each
format's module is imported only when a file of that format arrives.
"""

from __future__ import annotations

import importlib
import logging
from pathlib import Path

from ingest.errors import (
    CorruptDocument,
    DocumentError,
    EmptyDocument,
    FileTooLarge,
    RagError,
    UnsupportedFormat,
)
from ingest.types import ParsedDocument

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
PARSERS = ("builtin", "unstructured")


def load_document(
    path: Path, *, max_bytes: int = 50 * 2**20, parser: str = "builtin"
) -> ParsedDocument:
    """Load one supported file.

    Raises a DocumentError subclass (UnsupportedFormat, FileTooLarge, EmptyDocument,
    EncryptedDocument, CorruptDocument) for a bad file, MissingDependency when the
    "unstructured" parser is asked for but not installed, and ValueError for an unknown parser.
    """
    if parser not in PARSERS:
        raise ValueError(f"unknown parser {parser!r}; choose one of {', '.join(PARSERS)}")
    path = Path(path)
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
    document = _parse(path, extension, parser)
    if not any(block.text.strip() for block in document.blocks):
        hint = " (a scanned PDF needs OCR first)" if extension == ".pdf" else ""
        raise EmptyDocument(f"{name}: contains no text{hint}")
    return document


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
    try:
        module = importlib.import_module(f"{__name__}.{module_name}")
        document: ParsedDocument = getattr(module, function)(path)
    except RagError:
        raise
    except OSError as exc:
        raise DocumentError(f"{path.name}: cannot be read ({exc.strerror or exc})") from exc
    except Exception as exc:
        log.debug("parser failed on %s", path, exc_info=True)
        reason = " ".join(str(exc).split())[:200] or type(exc).__name__
        raise CorruptDocument(f"{path.name}: could not be read as {label}: {reason}") from exc
    return document
