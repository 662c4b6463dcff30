#!/usr/bin/env bash
# Set up and run Tell Me More locally. `make run` and `make test` call this.
#   scripts/dev.sh setup        virtualenv + pinned dependencies + local services + web app build
#   scripts/dev.sh run          setup, migrate, start Ray + the Serve apps on :8000, process the demo
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
    scripts/install.sh "$VENV" constraints.txt
    echo "$want" > "$VENV/.tmm-installed"
  fi
  # Models that do not ship ready to load (the LLM from its GGUF file); idempotent, offline.
  HF_HUB_OFFLINE=1 "$VENV/bin/tmm" models prepare --whisper-base
  # Reach PostgreSQL, or install and start a private one under .local/ (127.0.0.1 only).
  "$VENV/bin/tmm" local up --env-file .local/services.env --started-file .local/started.txt
  set -a
  # shellcheck disable=SC1091
  source .local/services.env
  set +a
  export PATH="$PWD/$VENV/bin:$PATH"
  web_app
}

# The web app (web/): its npm packages (again only when the lock changed) and its build in
# web/dist, which the API serves on its own origin (api/web_app.py).
web_app() {
  node_runtime
  local want have=""
  want=$(sha256sum web/package-lock.json | cut -d' ' -f1)
  [[ -f web/node_modules/.tmm-installed ]] && have=$(cat web/node_modules/.tmm-installed)
  if [[ $want != "$have" ]]; then
    (cd web && npm ci --no-audit --no-fund)
    echo "$want" > web/node_modules/.tmm-installed
  fi
  (cd web && npm run build)
}

# Node.js as web/package.json's "engines" asks (>= 20.19, for Vite). Debian's own is enough
# where it is new enough (trixie); on older releases (bookworm ships 18) npm fetches the
# official build from the npm registry into .local/node, once, and it goes first on PATH.
NODE_PACKAGE_VERSION=22.23.5
node_runtime() {
  command -v node >/dev/null && command -v npm >/dev/null || debian_packages nodejs npm
  local arch prefix=.local/node
  case $(uname -m) in x86_64) arch=x64 ;; aarch64) arch=arm64 ;; *) arch=$(uname -m) ;; esac
  local bin=$PWD/$prefix/node_modules/node-linux-$arch/bin
  [[ -x $bin/node ]] && export PATH="$bin:$PATH"
  if ! node -e 'const [a, b] = process.versions.node.split(".").map(Number);
                process.exit(a > 20 || (a === 20 && b >= 19) ? 0 : 1)'; then
    echo "Node.js $(node --version) is older than 20.19; installing $NODE_PACKAGE_VERSION in $prefix"
    npm install --prefix "$prefix" --no-save --no-audit --no-fund \
      "node-linux-$arch@$NODE_PACKAGE_VERSION" >/dev/null
    export PATH="$bin:$PATH"
  fi
}

debian_packages() {
  local missing=()
  for p in "$@"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
  ((${#missing[@]})) || return 0
  if [[ $(id -u) -ne 0 ]]; then
    echo "missing Debian packages (install them as root): ${missing[*]}" >&2
    exit 1
  fi
  apt-get update -q >/dev/null
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}" >/dev/null
}

# Prometheus's promtool (the tests check the alert rules with it), unpacked from Debian's
# package under .local/: no root needed, and no Prometheus service gets installed or started.
prometheus_tools() {
  local dir=.local/prometheus
  [[ -x $dir/usr/bin/promtool ]] && return 0
  local tmp
  tmp=$(mktemp -d)
  (cd "$tmp" && apt-get download -q prometheus >/dev/null 2>&1) || {
    [[ $(id -u) -eq 0 ]] && apt-get update -q >/dev/null && (cd "$tmp" && apt-get download -q prometheus >/dev/null)
  }
  mkdir -p "$dir"
  dpkg-deb -x "$tmp"/prometheus_*.deb "$dir"
  rm -rf "$tmp"
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
    # A private local Ray cluster with the Serve apps on 127.0.0.1:8000; the demo podcast is
    # loaded and its episodes processed (searchable about a minute after the models are up).
    exec tmm-serve run --demo
    ;;
  test)
    setup
    # Real read speech with known transcripts for the speech-recognition tests, and
    # espeak-ng to read long episodes aloud (the slow tier's 20-minute episode).
    debian_packages pocketsphinx-testdata espeak-ng
    # pg_dump and pg_restore for the backup tests (they come with a local PostgreSQL server).
    command -v pg_dump >/dev/null || debian_packages postgresql-client
    prometheus_tools
    # Debian's Chromium for the web app's browser tests (tests/web/; Playwright drives it).
    debian_packages chromium
    ruff check .
    ruff format --check .
    mypy .
    # Known vulnerabilities in the locked packages (skipped, with a line saying so, where
    # PyPI's vulnerability API does not answer).
    python scripts/audit_deps.py
    # Stop the servers this run started (and only those) however the tests end.
    cp .local/started.txt .local/started-by-test.txt
    trap '"$VENV/bin/tmm" local down --only .local/started-by-test.txt' EXIT
    pytest "$@"
    ;;
  *)
    echo "usage: $0 {setup|run|test [pytest args]}" >&2
    exit 2
    ;;
esac
