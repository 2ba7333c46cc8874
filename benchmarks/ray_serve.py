"""Throughput of `bertvino serve --ray` with 1 and 2 replicas on a local Ray, beside plain `bertvino serve`.

    python benchmarks/ray_serve.py [-m BUNDLE] [--requests 256] [--clients 8] [--rounds 2]

For each setup (plain serve; --ray --replicas 1; --ray --replicas 2) starts the server in a subprocess on a free
loopback port, waits for its "serving model" line, then `--clients` threads, each with its own kept-alive
`bertvino.client.Client`, send `--requests` TF Serving predict requests of one short review each (serve_bench.py's
built-in reviews, in turn), and records reviews/s and p50/p99 latency as a client sees it. Each setup measures
`--rounds` times per start, and each setup is started `--cycles` times (the order alternating), keeping each
setup's best round (the CPU is shared with other jobs); the seconds to start (ready line) and to stop (SIGTERM to
exit 0) are recorded too. Writes benchmarks/results/ray_serve.json and .md.
"""

import argparse
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bertvino.client import Client

from common import RESULTS_DIR, concurrent_requests, measured_on, write_results
from serve_bench import REVIEWS

SETUPS = {"serve": [], "serve --ray --replicas 1": ["--ray", "--replicas", "1"],
          "serve --ray --replicas 2": ["--ray", "--replicas", "2"]}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-m", "--model", help="bundle directory or bundled model name (default: the bundled model)")
    parser.add_argument("--requests", type=int, default=256, help="requests per round (default: %(default)s)")
    parser.add_argument("--clients", type=int, default=8, help="client threads (default: %(default)s)")
    parser.add_argument("--rounds", type=int, default=2, help="repeats; each setup keeps its best (default: 2)")
    parser.add_argument("--cycles", type=int, default=2, help="starts of each setup, in alternating order "
                                                                "(default: %(default)s)")
    parser.add_argument("--setups", nargs="+", choices=list(SETUPS), default=list(SETUPS))
    args = parser.parse_args()

    best = {}
    for cycle in range(args.cycles):
        for setup in args.setups if cycle % 2 == 0 else args.setups[::-1]:
            with tempfile.TemporaryDirectory() as directory:
                server = Server(args.model, SETUPS[setup], Path(directory))
                with server:
                    for _ in range(args.rounds):
                        cell = {"setup": setup, **measure(server, args.clients, args.requests),
                                "started_in_seconds": server.started_in}
                        print(cell, flush=True)
                        if setup not in best or cell["reviews_per_second"] > best[setup]["reviews_per_second"]:
                            best[setup] = cell
                best[setup]["stopped_in_seconds"] = max(server.stopped_in, best[setup].get("stopped_in_seconds", 0))
    results = {**measured_on(), "load_average_at_end": os.getloadavg(), "requests_per_round": args.requests,
               "clients": args.clients, "rounds": args.rounds, "cycles": args.cycles,
               "cells": [best[setup] for setup in args.setups]}
    write_results(RESULTS_DIR / "ray_serve.json", results, markdown(results))
    print(markdown(results))


class Server:
    """`bertvino serve` (plus `extra` flags) in a subprocess, until the `with` ends (SIGTERM)."""

    def __init__(self, model, extra: list, directory: Path):
        with socket.socket() as probe:  # Ray Serve's proxy wants a port number, not 0
            probe.bind(("127.0.0.1", 0))
            self.port = probe.getsockname()[1]
        self.command = [sys.executable, "-m", "bertvino", "serve", "--port", str(self.port), *extra]
        if model:
            self.command += ["-m", model]
        self.log = directory / "server.log"

    def __enter__(self):
        started = time.monotonic()
        with open(self.log, "w") as stderr:
            self.process = subprocess.Popen(self.command, stdout=stderr, stderr=stderr)
        while time.monotonic() < started + 600:
            if self.process.poll() is not None:
                raise SystemExit(f"the server stopped: {self.log.read_text()}")
            for line in self.log.read_text().splitlines():
                if line.startswith("bertvino serve: serving model"):
                    self.model = line.split("'")[1]
                    self.started_in = round(time.monotonic() - started, 1)
                    return self
            time.sleep(0.2)
        raise SystemExit(f"the server did not start: {self.log.read_text()}")

    def __exit__(self, *exc_info):
        stopping = time.monotonic()
        self.process.send_signal(signal.SIGTERM)
        status = self.process.wait(timeout=180)
        self.stopped_in = round(time.monotonic() - stopping, 1)
        if status != 0:
            raise SystemExit(f"the server did not stop cleanly: {self.log.read_text()}")


def measure(server: Server, clients: int, requests: int) -> dict:
    """`requests` requests from `clients` threads, each connected (one request sent) before the clock starts."""
    def make_caller():
        client = Client("127.0.0.1", server.port, server.model)
        return lambda text: client.classify([text])
    return concurrent_requests(make_caller, REVIEWS, clients, requests, "TF Serving REST")


def markdown(results: dict) -> str:
    machine = results["machine"]
    lines = [f"`{results['command']}` on {machine.get('cpu', machine)}, {results['clients']} client threads, "
             f"{results['requests_per_round']} requests of one short review, best of {results['rounds']} rounds "
             f"in each of {results['cycles']} starts "
             f"(load average at the end {', '.join(f'{x:.1f}' for x in results['load_average_at_end'])}: "
             "measured while other jobs ran)", "",
             "| setup | reviews/s | p50 ms | p99 ms | start s | stop s (slowest) |", "|---|---:|---:|---:|---:|---:|"]
    for cell in results["cells"]:
        lines.append(f"| `{cell['setup']}` | {cell['reviews_per_second']} | {cell['p50_ms']} | {cell['p99_ms']} | "
                     f"{cell['started_in_seconds']} | {cell['stopped_in_seconds']} |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
