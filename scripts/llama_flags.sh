#!/usr/bin/env bash
# Print the CMake flags for a portable llama.cpp CPU build on this host.
# GGML_NATIVE stays OFF so the wheel never carries -march=native (nor AMX kernels); each
# AVX-512 extension is switched on only when /proc/cpuinfo lists it, because a wheel using
# an instruction the CPU lacks dies with SIGILL.
set -euo pipefail
flags="-DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON -DGGML_BMI2=ON"
has() { grep -qw "$1" /proc/cpuinfo 2>/dev/null; }
if has avx512f && has avx512bw && has avx512vl; then
  flags="$flags -DGGML_AVX512=ON"
  has avx512vbmi && flags="$flags -DGGML_AVX512_VBMI=ON"
  has avx512_vnni && flags="$flags -DGGML_AVX512_VNNI=ON"
  has avx512_bf16 && flags="$flags -DGGML_AVX512_BF16=ON"
fi
has avx_vnni && flags="$flags -DGGML_AVX_VNNI=ON"
echo "$flags"
