"""Audit the locked dependencies for known vulnerabilities (``scripts/dev.sh test`` runs it).

pip-audit asks PyPI's JSON API for each pinned version's advisories. Where that service does
not answer (an offline mirror, a proxy that serves only the package index), the audit is
skipped with a line saying so, rather than failing every test run or, worse, passing as if
the lock had been checked. Exit status: 0 clean or skipped, 1 vulnerable packages found.
"""

from __future__ import annotations

import json
import subprocess
import sys
import urllib.error
import urllib.request
from importlib.metadata import version
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LOCKS = ("constraints.txt",)
# The service pip-audit's default source uses, asked about a version that surely exists.
PROBE = "https://pypi.org/pypi/pip/{}/json"


def service_answers() -> str | None:
    """None when the vulnerability service answers; otherwise why it does not."""
    url = PROBE.format(version("pip"))
    try:
        with urllib.request.urlopen(url, timeout=10) as reply:  # noqa: S310 (a fixed https URL)
            body = json.load(reply)
    except urllib.error.HTTPError as exc:
        return f"{url} answered HTTP {exc.code}"
    except (urllib.error.URLError, TimeoutError, ValueError) as exc:
        return f"{url} did not answer ({exc})"
    return None if "vulnerabilities" in body else f"{url} has no vulnerability data"


def main() -> int:
    why = service_answers()
    if why is not None:
        print(f"dependency audit SKIPPED: PyPI's vulnerability API is not reachable from here: "
              f"{why}. Run `python scripts/audit_deps.py` where pypi.org answers.")  # fmt: skip
        return 0
    failed = 0
    for lock in LOCKS:
        command = [sys.executable, "-m", "pip_audit", "--requirement", str(ROOT / lock),
                   "--no-deps", "--disable-pip", "--vulnerability-service", "pypi",
                   "--progress-spinner", "off", "--desc", "on"]  # fmt: skip
        print(f"dependency audit: {lock}", flush=True)
        failed |= subprocess.run(command, check=False).returncode  # noqa: S603 (our own argv)
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
