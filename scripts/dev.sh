#!/usr/bin/env bash
# Set up and run Tell Me More locally. `make run` and `make test` call this.
#   scripts/dev.sh setup        virtualenv + pinned dependencies + local services
#   scripts/dev.sh run          setup, migrate, load the demo podcast, serve the API on :8000
#   scripts/dev.sh test [ARGS]  setup, lint, type-check, pytest (ARGS go to pytest)
set -euo pipefail
cd "$(dirname "$0")/.."

VENV=${VENV:-.venv}
PYTHON=${PYTHON:-$(command -v python3.11 || command -v python3)}

setup() {
  if [[ ! -x $VENV/bin/python ]]; then
    "$PYTHON" -m venv "$VENV"
  fi
  # Reinstall only when the dependency spec or the lock changed.
  local want have=""
  want=$(cat pyproject.toml constraints.txt | sha256sum | cut -d' ' -f1)
  [[ -f $VENV/.tmm-installed ]] && have=$(cat "$VENV/.tmm-installed")
  if [[ $want != "$have" ]]; then
    "$VENV/bin/python" -m pip install -q --disable-pip-version-check --upgrade "pip>=24"
    "$VENV/bin/python" -m pip install -q --disable-pip-version-check -c constraints.txt -e ".[dev]"
    echo "$want" > "$VENV/.tmm-installed"
  fi
  # Reach PostgreSQL, or install and start a private one under .local/ (127.0.0.1 only).
  "$VENV/bin/tmm" local up --env-file .local/services.env
  set -a
  # shellcheck disable=SC1091
  source .local/services.env
  set +a
  export PATH="$PWD/$VENV/bin:$PATH"
}

cmd=${1:-}
shift || true
case $cmd in
  setup)
    setup
    ;;
  run)
    setup
    export TMM_DEMO__ENABLED=true TMM_FEEDS__ALLOW_PRIVATE_HOSTS=true
    tmm db migrate
    tmm demo load
    echo "API on http://127.0.0.1:8000 (docs at /docs); Ctrl-C stops it."
    exec tmm api serve
    ;;
  test)
    setup
    ruff check .
    ruff format --check .
    mypy .
    exec pytest "$@"
    ;;
  *)
    echo "usage: $0 {setup|run|test [pytest args]}" >&2
    exit 2
    ;;
esac
