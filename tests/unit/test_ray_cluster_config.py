"""``ray_cluster.yaml`` (``ray up`` on AWS) against Ray's own cluster-config schema, and each
node type's ``node_config`` against the request shape EC2's RunInstances accepts (botocore's
service model, offline), so a misspelt spot option fails here rather than at launch."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import botocore.session
import pytest
from botocore.validate import ParamValidator

from serve_apps import strict_yaml

ROOT = Path(__file__).resolve().parent.parent.parent


def _config() -> dict[str, Any]:
    loaded: dict[str, Any] = strict_yaml.load_file(ROOT / "ray_cluster.yaml")
    return loaded


def _run_instances_errors(node_config: dict[str, Any]) -> str:
    """What EC2 RunInstances would refuse in this node_config (Ray adds the AMI and counts)."""
    shape = botocore.session.get_session().get_service_model("ec2")
    request = {"ImageId": "ami-0123456789abcdef0", "MinCount": 1, "MaxCount": 1, **node_config}
    input_shape = shape.operation_model("RunInstances").input_shape
    report = ParamValidator().validate(request, input_shape)
    found = [str(report.generate_report())] if report.has_errors() else []
    # botocore checks names and types but not enumerations; the API refuses unknown values.
    found += _enum_errors(request, input_shape, "")
    return "\n".join(found)


def _enum_errors(value: Any, shape: Any, path: str) -> list[str]:
    if shape.type_name == "structure" and isinstance(value, dict):
        return [e for key, item in value.items() if key in shape.members
                for e in _enum_errors(item, shape.members[key], f"{path}.{key}")]  # fmt: skip
    if shape.type_name == "list" and isinstance(value, list):
        return [e for i, item in enumerate(value)
                for e in _enum_errors(item, shape.member, f"{path}[{i}]")]  # fmt: skip
    if shape.type_name == "string" and shape.enum and value not in shape.enum:
        return [f"{path}: {value!r} is not one of {shape.enum}"]
    return []


def test_rays_own_schema_accepts_it() -> None:
    from ray.autoscaler._private.util import prepare_config, validate_config

    validate_config(prepare_config(copy.deepcopy(_config())))


def test_the_shape_head_without_work_cpu_workers_gpu_spot_from_zero() -> None:
    config = _config()
    types = config["available_node_types"]
    assert types[config["head_node_type"]]["resources"] == {"CPU": 0}
    assert any("--num-cpus=0" in c for c in config["head_start_ray_commands"])
    gpu = types["gpu_spot_worker"]
    assert gpu["min_workers"] == 0 and gpu["max_workers"] >= 1
    assert gpu["node_config"]["InstanceMarketOptions"]["MarketType"] == "spot"
    assert types["cpu_worker"]["min_workers"] >= 1
    # The app on every node: the `cpu` extra from constraints.txt on the head and CPU workers
    # (the Serve builder imports faster-whisper and av), the `gpu` extra from its own lock on
    # GPU workers, and never both on one node.
    cpu_installs = [*config["head_setup_commands"], *config["worker_setup_commands"]]
    assert all("EXTRAS=cpu" in c and "install.sh" in c and "constraints.txt" in c
               for c in cpu_installs) and cpu_installs  # fmt: skip
    assert any('".[gpu]"' in c and "-c constraints-gpu.txt" in c
               for c in gpu["worker_setup_commands"])  # fmt: skip
    assert not config.get("setup_commands")  # would run on GPU nodes too
    assert "cpu" not in " ".join(gpu["worker_setup_commands"])


@pytest.mark.parametrize("node_type", ["head", "cpu_worker", "gpu_spot_worker"])
def test_each_node_config_is_a_request_ec2_accepts(node_type: str) -> None:
    assert _run_instances_errors(_config()["available_node_types"][node_type]["node_config"]) == ""


def test_the_ec2_check_catches_a_bad_spot_option() -> None:
    bad = copy.deepcopy(_config()["available_node_types"]["gpu_spot_worker"]["node_config"])
    bad["InstanceMarketOptions"]["SpotOptions"]["SpotInstanceType"] = "sometimes"
    bad["InstanceMarketOptions"]["MarketTyp"] = "spot"
    errors = _run_instances_errors(bad)
    assert "SpotInstanceType" in errors and "MarketTyp" in errors
