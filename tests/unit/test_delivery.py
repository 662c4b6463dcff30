"""The images and the delivery workflow, checked as far as this machine allows (no Docker
daemon, no Kubernetes): Dockerfiles build from the lock as a non-root user with a health check
and copy every package; the workflow runs test -> build -> deploy (staging on pull requests,
production on main) against overlays and image names that exist."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path
from typing import Any

import pytest

from serve_apps import strict_yaml
from tests.unit.test_cluster_manifests import ray_docs

ROOT = Path(__file__).resolve().parent.parent.parent
WORKFLOW = ROOT / ".github" / "workflows" / "delivery.yml"


def instructions(path: Path) -> list[tuple[str, str]]:
    """A Dockerfile's instructions as (OP, arguments), continuation lines joined."""
    return parse_instructions(path.read_text())


def parse_instructions(dockerfile: str) -> list[tuple[str, str]]:
    text = re.sub(r"\\\n\s*", " ", dockerfile)
    return [(line.split(None, 1)[0].upper(), line.split(None, 1)[1] if " " in line else "")
            for line in (raw.strip() for raw in text.splitlines())
            if line and not line.startswith("#")]  # fmt: skip


def copied_sources(steps: list[tuple[str, str]]) -> set[str]:
    """Every source path a COPY names (its flags such as ``--chown`` and the target left out)."""
    return {source for op, arg in steps if op == "COPY"
            for source in [w for w in arg.split() if not w.startswith("--")][:-1]}  # fmt: skip


# Each image installs from its own lock: the CPU one as scripts/install.sh does.
LOCKS = {"cpu": "constraints.txt", "gpu": "constraints-gpu.txt"}


@pytest.mark.parametrize("flavour", ["cpu", "gpu"])
def test_each_image_builds_from_the_lock_as_a_non_root_user(flavour: str) -> None:
    steps = instructions(ROOT / "docker" / f"{flavour}.Dockerfile")
    users = [arg for op, arg in steps if op == "USER"]
    # Numeric: Kubernetes' runAsNonRoot cannot verify a user name.
    assert users and users[-1].split(":")[0].isdigit() and users[-1].split(":")[0] != "0"
    assert any(op == "HEALTHCHECK" and "/health" in arg for op, arg in steps)
    copied = copied_sources(steps)
    assert LOCKS[flavour] in copied
    for source in copied:
        assert (ROOT / source).exists(), source
    packages = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"][
        "packages"]["find"]["include"]  # fmt: skip
    for package in packages:
        assert package.rstrip("*") in copied, f"{package} is not copied into the image"
    installs = [arg for op, arg in steps if op == "RUN" and ("pip install" in arg
                                                             or "install.sh" in arg)]  # fmt: skip
    assert installs and all(LOCKS[flavour] in arg for arg in installs)


def _workflow() -> dict[Any, Any]:
    loaded: dict[Any, Any] = strict_yaml.load_file(WORKFLOW)
    return loaded


def test_the_workflow_runs_test_build_deploy_in_order() -> None:
    flow = _workflow()
    triggers = flow[True]  # YAML 1.1 reads the key `on` as a boolean
    assert "pull_request" in triggers and triggers["push"]["branches"] == ["main"]
    jobs = flow["jobs"]
    assert jobs["build"]["needs"] == "test"
    assert jobs["deploy-staging"]["needs"] == jobs["deploy-production"]["needs"] == "build"
    assert "pull_request" in jobs["deploy-staging"]["if"]
    assert "refs/heads/main" in jobs["deploy-production"]["if"]
    assert any("make test" in s.get("run", "") for s in jobs["test"]["steps"])
    for flavour in jobs["build"]["strategy"]["matrix"]["flavour"]:
        assert (ROOT / "docker" / f"{flavour}.Dockerfile").exists()


@pytest.mark.parametrize(
    ("job", "overlay", "tag"),
    [("deploy-staging", "staging", "staging"), ("deploy-production", "production", "main")],
)
def test_deploys_target_the_overlays_and_their_images(job: str, overlay: str, tag: str) -> None:
    flow = _workflow()
    script = "\n".join(s.get("run", "") for s in flow["jobs"][job]["steps"])
    assert f"cd cluster/overlays/{overlay}" in script
    registry = flow["env"]["REGISTRY"]
    images = {c["image"] for d in ray_docs(overlay) for c in _containers(d)}
    for flavour in ("cpu", "gpu"):
        pattern = f"${{REGISTRY}}/app-{flavour}:{tag}"
        assert pattern in script
        assert pattern.replace("${REGISTRY}", registry) in images


def _containers(doc: dict[str, Any]) -> list[dict[str, Any]]:
    spec = doc["spec"]
    cluster = spec.get("rayClusterConfig") or spec["rayClusterSpec"]
    groups = [cluster["headGroupSpec"], *cluster["workerGroupSpecs"]]
    return [c for g in groups for c in g["template"]["spec"]["containers"]]
