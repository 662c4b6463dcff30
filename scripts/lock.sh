#!/usr/bin/env bash
# Regenerate constraints.txt: resolve pyproject's ranges in a throwaway virtualenv and pin
# every package that was installed. Commit the result; setups install exactly these versions.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-$(command -v python3.11 || command -v python3)}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
"$PYTHON" -m venv "$tmp/venv"
scripts/install.sh "$tmp/venv"
{
  echo "# Pinned versions CI tested; regenerate with scripts/lock.sh (make lock)."
  "$tmp/venv/bin/python" -m pip freeze --exclude-editable --disable-pip-version-check | sort -f
} > constraints.txt
echo "wrote constraints.txt ($(grep -vc '^#' constraints.txt) packages)"
