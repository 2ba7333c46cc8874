"""The cluster recipe of docs/scoring.md, on one machine: a head and a second raylet started with `ray start`, as
two nodes would be, with Ray's token authentication (on by default for clusters since Ray 2.59), then
`bertvino score --ray HOST:PORT` on that cluster.

The second node gets a HOME of its own, so it does not see the head's ~/.ray/auth_token, as another machine would
not: without RAY_AUTH_MODE=token and the token it is refused, as issue 22 saw; with them it joins. Every port is
a free one and every Ray process started here is found by this test's own --temp-dir and ended by its id, never
by `ray stop`, which would end every Ray of this user on the machine. It takes one to two minutes.
"""

import csv
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

pytest.importorskip("ray")

from bertvino.core.reviews import read_reviews  # noqa: E402

RAY = str(Path(sys.executable).with_name("ray"))


def free_ports(count: int) -> list:
    sockets = [socket.socket() for _ in range(count)]
    for s in sockets:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in sockets]
    for s in sockets:
        s.close()
    return ports


def node_ports(ports: list) -> list:
    """A node's own ports, so that two raylets on one machine do not meet on Ray's fixed defaults."""
    names = ("node-manager-port", "object-manager-port", "dashboard-agent-listen-port", "dashboard-agent-grpc-port",
             "metrics-export-port", "runtime-env-agent-port")
    low = ports.pop()
    return [f"--{name}={ports.pop()}" for name in names] + [f"--min-worker-port={low}",
                                                             f"--max-worker-port={low + 40}"]


def processes_under(temp_dir: str) -> list:
    """Ids of the processes whose command line names `temp_dir`, and all their descendants."""
    found = []
    for proc in Path("/proc").iterdir():
        try:
            if proc.name.isdigit() and temp_dir in (proc / "cmdline").read_text(errors="replace"):
                found.append(int(proc.name))
        except OSError:
            continue
    queue = list(found)
    while queue:
        pid = queue.pop()
        for children in Path(f"/proc/{pid}/task").glob("*/children"):
            try:
                kids = [int(kid) for kid in children.read_text().split()]
            except OSError:
                continue
            found += kids
            queue += kids
    return sorted(set(found))


def end(pids: list):
    for sig in (signal.SIGTERM, signal.SIGKILL):
        for pid in pids:
            try:
                os.kill(pid, sig)
            except ProcessLookupError:
                pass
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and any(Path(f"/proc/{pid}").exists() for pid in pids):
            time.sleep(0.2)


def test_the_cluster_recipe_with_token_authentication(fp32_bundle, reviews_dir, tmp_path):
    temp_dir = tempfile.mkdtemp(prefix="bvray", dir="/tmp")  # short: Ray's socket paths must fit 107 bytes
    ports = free_ports(20)
    head_port = ports.pop()
    base = {**os.environ, "RAY_USAGE_STATS_ENABLED": "0"}
    base.pop("RAY_AUTH_MODE", None), base.pop("RAY_AUTH_TOKEN", None), base.pop("RAY_ADDRESS", None)
    head_env = {**base, "HOME": str(tmp_path / "head-home"), "RAY_AUTH_MODE": "token"}
    other_env = {**base, "HOME": str(tmp_path / "other-home")}
    common = ["--num-cpus=1", f"--temp-dir={temp_dir}", "--disable-usage-stats"]

    def run(command, env, timeout=180):
        return subprocess.run(command, env=env, capture_output=True, text=True, timeout=timeout)

    try:
        # On the head node: a token, then the head.
        assert run([RAY, "get-auth-token", "--generate"], head_env).returncode == 0
        token = (tmp_path / "head-home" / ".ray" / "auth_token").read_text().strip()
        head = run([RAY, "start", "--head", f"--port={head_port}", "--include-dashboard=false",
                    f"--dashboard-port={ports.pop()}", f"--ray-client-server-port={ports.pop()}",
                    *common, *node_ports(ports)], head_env)
        assert head.returncode == 0, head.stdout + head.stderr
        address = f"127.0.0.1:{head_port}"
        other_ports = node_ports(ports)
        # On another node, as the README recipe had it before Ray 2.59: refused.
        refused = run([RAY, "start", f"--address={address}", *common, *other_ports], other_env)
        assert refused.returncode != 0 and "RAY_AUTH_MODE" in refused.stdout + refused.stderr
        # With what docs/scoring.md says to set on every node: it joins.
        joined = run([RAY, "start", f"--address={address}", *common, *other_ports],
                     {**other_env, "RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN": token})
        assert joined.returncode == 0, joined.stdout + joined.stderr
        # Score from the head node, one single-thread actor per node.
        out = tmp_path / "out.csv"
        scored = run([sys.executable, "-m", "bertvino", "score", str(reviews_dir), "-m", str(fp32_bundle), "-o",
                      str(out), "--ray", address, "--ray-threads", "1", "--no-progress"], head_env, timeout=300)
        assert scored.returncode == 0, scored.stderr
        assert "reaches the workers by its path (every node reads it there)" in scored.stderr
        assert "Warning" not in scored.stderr and "core_worker.cc" not in scored.stderr, scored.stderr
        with open(out, newline="", encoding="utf-8") as file:
            sources = sorted(row["source"] for row in csv.DictReader(file))
        assert sources == sorted(review.source for review in read_reviews(reviews_dir))
        nodes = run([sys.executable, "-c", f"import ray; ray.init(address={address!r}, logging_level='ERROR'); "
                                           "print(sum(node['Alive'] for node in ray.nodes()))"], head_env)
        assert nodes.stdout.split()[-1] == "2", nodes.stdout + nodes.stderr
    finally:
        end(processes_under(temp_dir))
        shutil.rmtree(temp_dir, ignore_errors=True)
