"""Each check of test_artifact_agreement.py fails on a mutated copy of the artifacts: the
defects it was written for (a GPU group that declares nothing, a Ray container without Serve's
switches, an image on another Ray or Python, a node on the wrong lock, models prepared into a
root-owned folder, a key given twice) are all caught."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

import pytest

from tests.unit.test_artifact_agreement import (
    CHECKS,
    Artifacts,
    _cluster,
    duplicate_key_problems,
    our_yaml,
    real,
)

# -- each check can fail ----------------------------------------------------------------------

Mutation = Callable[[Artifacts], Artifacts]


def _dockerfile(flavour: str, old: str, new: str) -> Mutation:
    def mutate(a: Artifacts) -> Artifacts:
        assert old in a.dockerfiles[flavour], old
        files = {**a.dockerfiles, flavour: a.dockerfiles[flavour].replace(old, new)}
        return dataclasses.replace(a, dockerfiles=files)

    return mutate


def _manifest(edit: Callable[[dict[str, Any]], None], kind: str = "RayJob") -> Mutation:
    def mutate(a: Artifacts) -> Artifacts:
        edit(next(d for d in a.manifests["production"] if d["kind"] == kind))
        return a

    return mutate


def _ray_cluster(edit: Callable[[dict[str, Any]], None]) -> Mutation:
    def mutate(a: Artifacts) -> Artifacts:
        edit(a.ray_cluster)
        return a

    return mutate


def _gpu_group(doc: dict[str, Any]) -> dict[str, Any]:
    group: dict[str, Any] = _cluster(doc)["workerGroupSpecs"][1]
    assert group["groupName"] == "gpu-spot"
    return group


def _drop_env(name: str) -> Callable[[dict[str, Any]], None]:
    def edit(doc: dict[str, Any]) -> None:
        container = _gpu_group(doc)["template"]["spec"]["containers"][0]
        container["env"] = [e for e in container["env"] if e["name"] != name]

    return edit


def _ask_for(accelerator: str) -> Mutation:
    def mutate(a: Artifacts) -> Artifacts:
        apps = [app.model_copy(update={"args": {**app.args, "llm": {
            **app.args["llm"], "accelerator_type": accelerator}}}) if "llm" in app.args else app
            for app in a.serve_config.applications]  # fmt: skip
        return dataclasses.replace(a, serve_config=a.serve_config.model_copy(
            update={"applications": apps}))  # fmt: skip

    return mutate


def _drop_resources(deployment: str) -> Mutation:
    field = "router_resources" if deployment == "llm" else "resources"

    def mutate(a: Artifacts) -> Artifacts:
        apps = [app.model_copy(update={"args": {**app.args, deployment: {
            k: v for k, v in app.args[deployment].items() if k != field}}})
            if deployment in app.args else app for app in a.serve_config.applications]  # fmt: skip
        return dataclasses.replace(a, serve_config=a.serve_config.model_copy(
            update={"applications": apps}))  # fmt: skip

    return mutate


GPU_NODE = "gpu_spot_worker"
CPU_BASE, GPU_BASE = "rayproject/ray:2.60.0-py311", "rayproject/ray:2.60.0-py311-cu128"
MUTATIONS: list[tuple[str, str, Mutation, str]] = [
    ("ray version", "cpu image on another Ray",
     _dockerfile("cpu", CPU_BASE + "\n", "rayproject/ray:2.59.0-py311\n"), "Ray versions differ"),
    ("ray version", "GPU image not Ray's",
     _dockerfile("gpu", GPU_BASE, "nvidia/cuda:12.8.0-runtime-ubuntu22.04"), "not Ray's image"),
    ("ray version", "manifest rayVersion",
     _manifest(lambda d: _cluster(d).update(rayVersion="2.59.0")), "2.59.0"),
    ("ray version", "ray_cluster GPU image",
     _ray_cluster(lambda c: c["available_node_types"][GPU_NODE]["docker"].update(
         worker_image="rayproject/ray:2.61.0-py311-cu128")), "2.61.0"),
    ("python", "GPU image on another Python",
     _dockerfile("gpu", GPU_BASE, "rayproject/ray:2.60.0-py312-cu128"), "Python minors differ"),
    ("throughput env", "GPU worker without HAProxy",
     _manifest(_drop_env("RAY_SERVE_ENABLE_HA_PROXY")), "gpu-spot: lacks"),
    ("throughput env", "head without throughput mode",
     _manifest(lambda d: _cluster(d)["headGroupSpec"]["template"]["spec"]["containers"][0][
         "env"].pop(1), kind="RayService"), "RayService head: lacks"),
    ("accelerator", "GPU group declares nothing (the old rayStartParams: {})",
     _manifest(lambda d: _gpu_group(d).pop("resources"), kind="RayService"),
     "no GPU group declares A10G"),
    ("accelerator", "the Serve config asks for another GPU",
     _ask_for("L4"), "no GPU group declares L4"),
    ("accelerator", "ray_cluster GPU node without the accelerator",
     _ray_cluster(lambda c: c["available_node_types"][GPU_NODE]["resources"].pop(
         "accelerator_type:A10G")), "ray_cluster.yaml: no node type declares A10G"),
    ("cpu group", "a CPU deployment free to land on GPU nodes (the spread defect)",
     _drop_resources("processor"), "tellmemore.processor (CPU only) asks for no custom"),
    ("cpu group", "the LLM router free to land on GPU nodes",
     _drop_resources("llm"), "llm.router (CPU only)"),
    ("cpu group", "CPU group without the resource",
     _manifest(lambda d: _cluster(d)["workerGroupSpecs"][0].pop("resources"), kind="RayService"),
     "RayService: no CPU group declares cpu_worker"),
    ("cpu group", "GPU nodes declaring it too",
     _ray_cluster(lambda c: c["available_node_types"][GPU_NODE]["resources"].update(
         cpu_worker=1000)), "ray_cluster.yaml: a GPU group declares cpu_worker"),
    ("gcs ft", "a Serve cluster whose head restart takes the workers with it",
     _manifest(lambda d: _cluster(d).pop("gcsFaultToleranceOptions"), kind="RayService"),
     "production RayService: no GCS fault tolerance"),
    ("gcs ft", "a namespace the upgrade's new cluster would share",
     _manifest(lambda d: _cluster(d)["gcsFaultToleranceOptions"].update(
         externalStorageNamespace="tellmemore"), kind="RayService"),
     "a fixed externalStorageNamespace"),
    ("locks", "GPU image from the CPU lock",
     _dockerfile("gpu", "-c constraints-gpu.txt", "-c constraints.txt"),
     "the gpu image does not install"),
    ("locks", "CPU nodes without the cpu extra (the old setup_commands)",
     _ray_cluster(lambda c: c.update(head_setup_commands=[
         "python3 -m pip install -q -c ~/tellmemore/constraints.txt -e ~/tellmemore"])),
     "ray_cluster head does not install the cpu extra"),
    ("locks", "GPU nodes from the CPU lock",
     _ray_cluster(lambda c: c["available_node_types"][GPU_NODE].update(worker_setup_commands=[
         'pip install -c constraints.txt ".[gpu]"'])), f"ray_cluster {GPU_NODE}"),
    ("home", "a relative model cache",
     _dockerfile("cpu", "TMM_MODELS__CACHE_DIR=/home/ray/.cache/tellmemore/models",
                 "TMM_MODELS__CACHE_DIR=.cache/models"), "TMM_MODELS__CACHE_DIR"),
    ("home", "models prepared into a root-owned folder (the old image)",
     _dockerfile("cpu", "\nEXPOSE", "\nRUN tmm models prepare --whisper-base\nEXPOSE"),
     "prepares models at build time"),
    ("home", "root-owned app files",
     _dockerfile("gpu", "COPY --chown=1000:100 tellmemore", "COPY tellmemore"), "root-owned"),
    ("home", "runs as a named user",
     _dockerfile("gpu", "USER 1000:100", "USER tmm"), "runs as 'tmm'"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("check", "mutate", "expected"),
    [(check, mutate, expected) for check, _, mutate, expected in MUTATIONS],
    ids=[f"{check}: {what}" for check, what, _, _ in MUTATIONS],
)
def test_each_check_catches_a_disagreement(check: str, mutate: Mutation, expected: str) -> None:
    found = CHECKS[check](mutate(real()))
    assert any(expected in problem for problem in found), found


def test_the_duplicate_key_check_catches_the_old_production_config() -> None:
    files = our_yaml()
    text = files["cluster/serve/production.yaml"]
    old = text.replace(
        "      # The API logs every request itself",
        "    deployments:\n    # The API logs every request itself",
    )
    assert old != text
    [problem] = duplicate_key_problems({**files, "cluster/serve/production.yaml": old})
    assert "'deployments'" in problem and "cluster/serve/production.yaml" in problem
