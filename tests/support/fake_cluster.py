"""A multi-node Ray cluster on this machine, scaled by Ray's real autoscaler.

Ray's ``fake_multinode`` provider starts each "node" as a real raylet on this machine when the
autoscaler asks for one, and stops it when the autoscaler scales it away: the production
autoscaling path (pending demand -> node type -> launch -> idle timeout -> terminate) with
processes instead of VMs. ``ray.cluster_utils.AutoscalingCluster`` wraps the same provider but
runs ``ray stop --force`` (which ends every Ray process on the machine, other work included), so
this harness starts the head itself: on a free port on 127.0.0.1, with its own ``--temp-dir``,
and stops exactly the processes of that cluster, found by that directory, by PID.

Node types follow the production cluster (``serve_apps/kuberay.py``): a head that takes no work,
a CPU group, and a GPU group from zero whose nodes carry ``GPU`` and the accelerator resource the
Serve configs ask for. The models run on CPU there; only the scheduling is GPU-shaped.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ray.autoscaler._private.fake_multi_node.node_provider import FAKE_HEAD_NODE_ID

ROOT = Path(__file__).resolve().parents[2]
RAY = ROOT / ".venv" / "bin" / "ray"

# What every process of the cluster reads at start: no token auth and no usage reporting on a
# private loopback cluster, gRPC servers on loopback, and the fake provider switched on.
CLUSTER_ENV = {
    "RAY_AUTH_MODE": "disabled",
    "RAY_USAGE_STATS_ENABLED": "0",
    "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0",
    "RAY_FAKE_CLUSTER": "1",
    "AUTOSCALER_UPDATE_INTERVAL_S": "1",
    "HF_HUB_OFFLINE": "1",
    "TOKENIZERS_PARALLELISM": "false",
    # Every node here shares one machine, and Ray's HAProxy takes machine-wide ports and files
    # (raykit.local gives a one-node cluster its own; these nodes' proxies have no such split).
    # The switch is off whatever this process's environment says: set_ray_env turns it on.
    "RAY_SERVE_ENABLE_HA_PROXY": "0",
}


# Ports Ray's components take by default whatever else is asked (the dashboard agent's HTTP
# port, the client server, the dashboard, the GCS, Serve's HTTP and gRPC): a free port the
# kernel hands out can be one of them (52365 is in its ephemeral range), and `ray start` then
# refuses to start ("is trying to use a port number 52365 that is used by other components").
_RAY_DEFAULT_PORTS = frozenset({52365, 52366, 10001, 8265, 6379, 8000, 9000})


def free_port() -> int:
    while True:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = int(s.getsockname()[1])
        if port not in _RAY_DEFAULT_PORTS:
            return port


@dataclass(frozen=True)
class NodeType:
    """One worker group: its resources per node and its size bounds."""

    name: str
    resources: dict[str, float]
    min_workers: int
    max_workers: int


@dataclass
class FakeCluster:
    """Start with :meth:`start`, stop with :meth:`stop` (only this cluster's processes)."""

    node_types: list[NodeType]
    env: dict[str, str] = field(default_factory=dict)
    idle_timeout_s: float = 15.0
    gcs_port: int = field(default_factory=free_port)
    dashboard_port: int = field(default_factory=free_port)
    # The head's dashboard agent (Ray Jobs go through it) and Ray Client server take 52365 and
    # 10001 unless told otherwise: ports of their own, so a local Ray cluster beside this one
    # (another test lane's) keeps its own.
    agent_port: int = field(default_factory=free_port)
    client_port: int = field(default_factory=free_port)
    temp_dir: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="tmmc-")))
    # Removed on stop unless TMM_KEEP_CLUSTER_FILES=1 (to read the logs afterwards).
    keep_files: bool = field(
        default_factory=lambda: os.environ.get("TMM_KEEP_CLUSTER_FILES") == "1"
    )
    # The head's node id: the fake provider's fixed one, a new one per restart (see restart_head).
    head_node_id: str = FAKE_HEAD_NODE_ID
    restarts: int = 0

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.gcs_port}"

    @property
    def dashboard_url(self) -> str:
        return f"http://127.0.0.1:{self.dashboard_port}"

    def process_env(self) -> dict[str, str]:
        """The environment the head, the autoscaler and every node it starts run with."""
        return {**os.environ, **CLUSTER_ENV, **self.env}

    def config(self) -> dict[str, Any]:
        """The autoscaling config: a normal cluster config with the fake provider, which must
        be told the GCS address (it assumes port 6379 otherwise, which is Redis's here)."""
        types: dict[str, Any] = {
            "ray.head.default": {"resources": {"CPU": 0}, "node_config": {}, "max_workers": 0}
        }
        for node in self.node_types:
            # A restarted head's autoscaler launches nothing (see restart_head).
            most = node.max_workers if not self.restarts else 0
            types[node.name] = {
                "resources": dict(node.resources),
                "node_config": {},
                "min_workers": min(node.min_workers, most),
                "max_workers": most,
            }
        return {
            "cluster_name": f"tmm-{self.temp_dir.name}",
            "max_workers": sum(n.max_workers for n in self.node_types),
            "upscaling_speed": 1.0,
            "idle_timeout_minutes": self.idle_timeout_s / 60,
            "provider": {
                "type": "fake_multinode",
                "use_node_id_as_ip": True,
                "disable_node_updaters": True,
                "disable_launch_config_check": True,
                "gcs_address": self.address,
                "head_node_id": self.head_node_id,
            },
            "auth": {"ssh_user": "ray"},
            "available_node_types": types,
            "head_node_type": "ray.head.default",
            "file_mounts": {},
            "cluster_synced_files": [],
            "file_mounts_sync_continuously": False,
            "initialization_commands": [],
            "setup_commands": [],
            "head_setup_commands": [],
            "worker_setup_commands": [],
            "head_start_ray_commands": [],
            "worker_start_ray_commands": [],
        }

    def start(self, timeout_s: float = 90) -> FakeCluster:
        """Start the head (its GCS, raylet, dashboard and the autoscaler). Called again after
        :meth:`kill_head`, it brings the head back as a restarted head pod does: same port, same
        directory, and with GCS fault tolerance the cluster's state read back from Redis."""
        config = self.temp_dir / "autoscaling.json"
        config.write_text(json.dumps(self.config()))
        # `ray start --head` gives a fake cluster's head the provider's fixed id; a restarted
        # head needs another (the GCS refuses a node id it has seen die), so the CLI is run
        # with that constant replaced.
        ray = [str(RAY)] if self.head_node_id == FAKE_HEAD_NODE_ID else [
            str(RAY.parent / "python"), "-c", "import sys, ray.scripts.scripts as s; "
            "s.FAKE_HEAD_NODE_ID = sys.argv.pop(1); sys.exit(s.main())", self.head_node_id,
        ]  # fmt: skip
        command = [
            *ray, "start", "--head",
            f"--port={self.gcs_port}", "--node-ip-address=127.0.0.1", "--num-cpus=0",
            f"--autoscaling-config={config}", f"--temp-dir={self.temp_dir / 'ray'}",
            "--include-dashboard=true", "--dashboard-host=127.0.0.1",
            f"--dashboard-port={self.dashboard_port}", "--disable-usage-stats",
            f"--dashboard-agent-listen-port={self.agent_port}",
            f"--ray-client-server-port={self.client_port}",
        ]  # fmt: skip
        done = subprocess.run(
            command, env=self.process_env(), capture_output=True, text=True, timeout=timeout_s
        )
        if done.returncode != 0:
            raise AssertionError(f"ray start --head failed:\n{done.stdout[-3000:]}\n{done.stderr}")
        self.wait_for(lambda: self.alive_nodes(), "the head to answer", timeout_s)
        return self

    # --- reading the cluster's state over the dashboard's HTTP API (no driver connection) ---

    def get(self, path: str) -> Any:
        with urllib.request.urlopen(f"{self.dashboard_url}{path}", timeout=10) as answer:
            return json.loads(answer.read())

    def alive_nodes(self) -> list[dict[str, Any]]:
        """Alive nodes as the state API lists them (node id, resources_total, labels...)."""
        try:
            body = self.get("/api/v0/nodes?limit=1000&detail=true")
        except OSError:
            return []
        return [n for n in body["data"]["result"]["result"] if n["state"] == "ALIVE"]

    def nodes_of(self, node_type: str) -> list[dict[str, Any]]:
        """Alive nodes of one group, told apart by their resources (the head has no CPU)."""
        wanted = next(n for n in self.node_types if n.name == node_type).resources
        return [
            n
            for n in self.alive_nodes()
            if not n.get("is_head_node")
            and all(n["resources_total"].get(k) == v for k, v in wanted.items())
        ]

    def actors(self) -> list[dict[str, Any]]:
        body = self.get("/api/v0/actors?limit=10000&detail=true&filter_keys=state"
                        "&filter_predicates=%3D&filter_values=ALIVE")  # fmt: skip
        return list(body["data"]["result"]["result"])

    def wait_for(self, condition: Any, what: str, timeout_s: float, every_s: float = 1.0) -> Any:
        deadline = time.monotonic() + timeout_s
        while True:
            value = condition()
            if value:
                return value
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out after {timeout_s:.0f} s waiting for {what}")
            time.sleep(every_s)

    # --- stopping exactly this cluster ---

    def pids(self) -> set[int]:
        """Every process of this cluster: those whose command line names its temp dir, and
        their descendants (workers name only their raylet's socket, which lives there too)."""
        roots: set[int] = set()
        parents: dict[int, int] = {}
        marker = str(self.temp_dir)
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            try:
                cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            pid = int(entry.name)
            parents[pid] = int(stat.rsplit(")", 1)[1].split()[1])
            if marker in cmdline:
                roots.add(pid)
        found = set(roots)
        grew = True
        while grew:
            children = {pid for pid, parent in parents.items() if parent in found} - found
            found |= children
            grew = bool(children)
        found.discard(os.getpid())
        return found

    def kill_node(self, node_id: str) -> set[int]:
        """SIGKILL one worker node's processes (raylet, agents, workers), as a spot reclaim or
        a crash would; returns their PIDs."""
        pids = self.node_pids(node_id)
        if not pids:
            raise AssertionError(f"no processes found for node {node_id}")
        for pid in pids:
            _signal(pid, signal.SIGKILL)
        return pids

    def node_pids(self, node_id: str) -> set[int]:
        return {pid for pid, node in self.nodes_by_pid().items() if node == node_id}

    def nodes_by_pid(self) -> dict[int, str]:
        """pid -> the id of the node the process belongs to ("" for a worker node's helper
        whose node cannot be told, see below).

        The fake provider starts each node's raylet with the node's id in
        ``RAY_OVERRIDE_NODE_ID_FOR_TESTING``. A process's own ``/proc/PID/environ`` cannot be
        trusted for it: Ray's agents and workers set their process title, which on Linux may
        overwrite the memory that file reads, so a worker node's agent can show no id at all
        (taken for a head process, it was killed with the head and its raylet exited). The
        node is therefore the nearest id up the process tree: agents and workers are the
        raylet's descendants. Processes with no id above them are the head's (its GCS,
        dashboard, autoscaler, all started by ``ray start --head``), except the per-node
        helpers the provider starts from the autoscaler for a worker node (its log monitor),
        which belong to no process of the head pod."""
        marker = b"RAY_OVERRIDE_NODE_ID_FOR_TESTING="
        known: dict[int, tuple[int, str | None, bool]] = {}  # pid -> (parent, id, autoscaler?)
        for pid in self.pids():
            try:
                environ = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
                cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
                parent = int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])
            except OSError:
                continue
            ids = [e[len(marker) :].decode() for e in environ if e.startswith(marker)]
            known[pid] = (
                parent,
                ids[0] if ids else None,
                b"autoscaler/_private/monitor.py" in cmdline,
            )
        nodes = {}
        for pid in known:
            node, current = self.head_node_id, pid
            while current in known:
                parent, own, autoscaler = known[current]
                if own is not None:
                    node = own
                    break
                if autoscaler and current != pid:
                    node = ""
                    break
                current = parent
            nodes[pid] = node
        return nodes

    def kill_gcs(self) -> GcsProcess:
        """SIGKILL the head's GCS server (the cluster's control plane) and return what it takes
        to start it again as it was: the same command line, environment and directory."""
        for pid in self.pids():
            try:
                argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")[:-1]
            except OSError:
                continue
            if argv and argv[0].endswith(b"gcs_server"):
                environ = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
                gcs = GcsProcess(
                    argv=[a.decode() for a in argv],
                    env=dict(e.decode().split("=", 1) for e in environ if b"=" in e),
                    cwd=os.readlink(f"/proc/{pid}/cwd"),
                    log=self.temp_dir / "gcs-restarted.log",
                )
                _signal(pid, signal.SIGKILL)
                return gcs
        raise AssertionError("no gcs_server process in this cluster")

    def head_pids(self) -> set[int]:
        """The head node's processes (see :meth:`nodes_by_pid`)."""
        return self.node_pids(self.head_node_id)

    def kill_head(self) -> set[int]:
        """SIGKILL every process of the head node, as losing the head pod would: the GCS, the
        head's raylet, dashboard and autoscaler, and the workers on the head (the Serve
        controller, the head's proxy). Worker nodes' processes stay. Returns the PIDs killed."""
        head = self.head_pids()
        if not head:
            raise AssertionError("no head processes found in this cluster")
        for pid in head:
            _signal(pid, signal.SIGKILL)
        # SIGKILL is delivered at once but a process's sockets close only when it has exited.
        deadline = time.monotonic() + 30
        while any(_alive(pid) for pid in head) and time.monotonic() < deadline:
            time.sleep(0.1)
        # A replacement head pod starts with an empty /tmp/ray. Left in place, this file (the
        # address of the last `ray start`) and the worker raylets' --gcs-address would make
        # `ray start --head` believe a GCS still runs on its port and refuse to start.
        (self.temp_dir / "ray" / "ray_current_cluster").unlink(missing_ok=True)
        return head

    def restart_head(self, timeout_s: float = 180) -> FakeCluster:
        """Start a new head after :meth:`kill_head`, as KubeRay starts a new head pod: same
        GCS port and directory, a new node id, and the cluster's state read back from the GCS's
        Redis; the worker nodes' raylets reconnect to it by themselves.

        One difference from KubeRay, stated rather than hidden: the fake provider keeps its
        nodes in the autoscaler's memory, so a new autoscaler cannot see the nodes its
        predecessor started (KubeRay's sees the pods) and would start nodes with their ids.
        The restarted head's autoscaler is therefore given no nodes to start."""
        self.restarts += 1
        self.head_node_id = FAKE_HEAD_NODE_ID[:-5] + f"{90000 + self.restarts:05d}"
        return self.start(timeout_s)

    def listeners(self, port: int) -> set[int]:
        """The PIDs of this cluster listening on ``port`` on 127.0.0.1 (several where Serve's
        proxies share it with SO_REUSEPORT), from /proc/net/tcp and each process's sockets."""
        inodes = set()
        for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
            fields = line.split()
            address, state, inode = fields[1], fields[3], fields[9]
            if state == "0A" and address == f"0100007F:{port:04X}":
                inodes.add(f"socket:[{inode}]")
        found = set()
        for pid in self.pids():
            with contextlib.suppress(OSError):
                for fd in Path(f"/proc/{pid}/fd").iterdir():
                    with contextlib.suppress(OSError):
                        if os.readlink(fd) in inodes:
                            found.add(pid)
                            break
        return found

    def stop(self, timeout_s: float = 5) -> None:
        pids = self.pids()
        for pid in pids:
            _signal(pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline and any(_alive(p) for p in pids):
            time.sleep(0.2)
        for pid in pids:
            _signal(pid, signal.SIGKILL)
        if not self.keep_files:
            shutil.rmtree(self.temp_dir, ignore_errors=True)


@dataclass(frozen=True)
class GcsProcess:
    """A killed GCS server, ready to be started again (as a restarted head pod would)."""

    argv: list[str]
    env: dict[str, str]
    cwd: str
    log: Path

    def restart(self) -> subprocess.Popen[bytes]:
        # Its command line names the cluster's temp dir, so FakeCluster.stop finds it.
        return subprocess.Popen(
            self.argv, env=self.env, cwd=self.cwd, start_new_session=True,
            stdout=self.log.open("ab"), stderr=subprocess.STDOUT,
        )  # fmt: skip


def _signal(pid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, sig)


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"
