#!/bin/sh
# Regenerates the API client's types from the API's own OpenAPI document:
#   src/api/openapi.json  <- api.app.create_app(...).openapi()   (no services are opened:
#                            the app's services start in its lifespan, which this never runs)
#   src/api/schema.d.ts   <- openapi-typescript
# With --check it writes to a temporary folder and fails when the committed files differ, so a
# changed route is noticed before the build that would break on it.
set -eu
here=$(cd "$(dirname "$0")/.." && pwd)
repo=${TMM_REPO:-$(cd "$here/.." && pwd)}
python=${TMM_PYTHON:-$here/../.venv/bin/python}
out=$here/src/api
if [ "${1:-}" = "--check" ]; then
  out=$(mktemp -d)
  trap 'rm -rf "$out"' EXIT
fi
# A clean environment: the document must not depend on whoever runs this (.env, TMM_*).
(cd "$repo" && env -i PATH="$PATH" HOME="${HOME:-/tmp}" "$python" -c '
import json, sys
from api.app import create_app
from tellmemore.settings import Settings
app = create_app(Settings(_env_file=None))
json.dump(app.openapi(), sys.stdout, indent=2, sort_keys=True)
sys.stdout.write("\n")
') > "$out/openapi.json"
"$here/node_modules/.bin/openapi-typescript" "$out/openapi.json" -o "$out/schema.d.ts" --default-non-nullable false >/dev/null
if [ "${1:-}" = "--check" ]; then
  for f in openapi.json schema.d.ts; do
    if ! cmp -s "$out/$f" "$here/src/api/$f"; then
      echo "src/api/$f is out of date with the API: run 'npm run openapi' and commit it." >&2
      diff -u "$here/src/api/$f" "$out/$f" | head -40 >&2 || true
      exit 1
    fi
  done
  echo "The committed API client matches the API."
fi
