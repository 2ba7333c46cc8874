"""Throughput and latency of `bertvino serve` by protocol: TF Serving REST, Open Inference REST, Open Inference gRPC.

    python benchmarks/serve_protocols.py [-m BUNDLE] [--requests 256] [--clients 1 16] [--tls]

Starts `bertvino serve --grpc-port 0` (with --tls: a self-signed certificate and an API key too) in a subprocess on
free loopback ports, then for each protocol and each number of client threads sends `--requests` requests of one
short review each (the built-in reviews of serve_bench.py, in turn) and records reviews/s and p50/p99 latency as a
client sees it. The clients: `bertvino.client` for TF Serving, tritonclient.http and tritonclient.grpc for the Open
Inference Protocol, one client object per thread, reused (a kept-alive connection). Protocols are interleaved,
and the whole round is repeated `--rounds` times, keeping each cell's best, since the clients and the server share
the CPU with whatever else runs. Writes benchmarks/results/serve_protocols[-tls].json and .md.
"""

import argparse
import datetime
import ipaddress
import os
import signal
import ssl
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from bertvino.client import Client

from common import RESULTS_DIR, concurrent_requests, measured_on, write_results
from serve_bench import REVIEWS

KEY = "benchmark-key"
PROTOCOLS = ("tf-serving-rest", "v2-rest", "v2-grpc")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-m", "--model", help="bundle directory or bundled model name (default: the bundled model)")
    parser.add_argument("--requests", type=int, default=256, help="requests per cell (default: %(default)s)")
    parser.add_argument("--clients", type=int, nargs="+", default=[1, 16], help="client threads (default: 1 16)")
    parser.add_argument("--rounds", type=int, default=2, help="repeats; each cell keeps its best (default: 2)")
    parser.add_argument("--tls", action="store_true", help="serve over TLS with an API key")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as directory, Server(args.model, Path(directory), args.tls) as server:
        cells = {}
        for _ in range(args.rounds):
            for clients in args.clients:
                for protocol in PROTOCOLS:
                    cell = measure(server, protocol, clients, args.requests)
                    best = cells.get((protocol, clients))
                    if best is None or cell["reviews_per_second"] > best["reviews_per_second"]:
                        cells[(protocol, clients)] = cell
    results = {**measured_on(), "load_average_at_end": os.getloadavg(), "tls_and_api_key": args.tls,
               "requests_per_cell": args.requests, "rounds": args.rounds,
               "cells": [{"protocol": p, "clients": c, **cell} for (p, c), cell in cells.items()]}
    name = "serve_protocols-tls" if args.tls else "serve_protocols"
    write_results(RESULTS_DIR / f"{name}.json", results, markdown(results))
    print(markdown(results))


class Server:
    """`bertvino serve` with gRPC in a subprocess, until the `with` ends (SIGTERM)."""

    def __init__(self, model, directory: Path, tls: bool):
        self.tls, self.directory = tls, directory
        self.command = [sys.executable, "-m", "bertvino", "serve", "--port", "0", "--grpc-port", "0"]
        if model:
            self.command += ["-m", model]
        if tls:
            self.cert, key = self_signed(directory)
            self.command += ["--ssl-certfile", str(self.cert), "--ssl-keyfile", str(key)]
        self.env = {**os.environ, **({"BERTVINO_API_KEY": KEY} if tls else {})}

    def __enter__(self):
        log = self.directory / "server.log"
        with open(log, "w") as stderr:
            self.process = subprocess.Popen(self.command, stderr=stderr, env=self.env)
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise SystemExit(f"the server stopped: {log.read_text()}")
            for line in log.read_text().splitlines():
                if line.startswith("bertvino serve: serving model") and " and gRPC on 127.0.0.1:" in line:
                    self.model = line.split("'")[1]
                    self.http_port = int(line.split("://127.0.0.1:")[1].split()[0])
                    self.grpc_port = int(line.split(" and gRPC on 127.0.0.1:")[1].split()[0])
                    return self
            time.sleep(0.1)
        raise SystemExit(f"the server did not start: {log.read_text()}")

    def __exit__(self, *exc_info):
        self.process.send_signal(signal.SIGTERM)
        self.process.wait(timeout=120)

    def headers(self) -> dict:
        return {"authorization": f"Bearer {KEY}"} if self.tls else {}

    def caller(self, protocol: str):
        """A function text -> label over `protocol`, with a client of its own."""
        import tritonclient.grpc as triton_grpc
        import tritonclient.http as triton_http
        host = "localhost" if self.tls else "127.0.0.1"
        if protocol == "tf-serving-rest":
            client = Client(host, self.http_port, self.model, api_key=KEY if self.tls else None,
                            ssl_context=ssl.create_default_context(cafile=str(self.cert)) if self.tls else None)
            return lambda text: client.classify([text])[0]["label"]
        module = triton_http if protocol == "v2-rest" else triton_grpc
        if protocol == "v2-rest":
            import gevent.ssl
            client = module.InferenceServerClient(
                f"{host}:{self.http_port}", ssl=self.tls,
                ssl_context_factory=(lambda: gevent.ssl.create_default_context(cafile=str(self.cert))) if self.tls
                else None)
        else:
            client = module.InferenceServerClient(f"{host}:{self.grpc_port}", ssl=self.tls,
                                                  root_certificates=str(self.cert) if self.tls else None)

        def call(text):
            tensor = module.InferInput("text", [1], "BYTES")
            tensor.set_data_from_numpy(np.array([text.encode()], dtype=object))
            return client.infer(self.model, [tensor], headers=self.headers()).as_numpy("label")[0]
        return call


def measure(server: Server, protocol: str, clients: int, requests: int) -> dict:
    """One cell: `requests` requests from `clients` threads, each with a client of its own, made in the thread that
    uses it (tritonclient.http runs on gevent, whose loop is per thread) and connected before the clock starts."""
    return concurrent_requests(lambda: server.caller(protocol), REVIEWS, clients, requests, protocol)


def self_signed(directory: Path) -> tuple:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = datetime.datetime.now(datetime.timezone.utc)
    certificate = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
                   .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(minutes=5))
                   .not_valid_after(now + datetime.timedelta(days=1))
                   .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost"),
                                                               x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                                  critical=False).sign(key, hashes.SHA256()))
    cert, key_file = directory / "cert.pem", directory / "key.pem"
    cert.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert, key_file


def markdown(results: dict) -> str:
    machine = results["machine"]
    lines = [f"`{results['command']}` on {machine.get('cpu', machine)}, "
             f"{'TLS + API key' if results['tls_and_api_key'] else 'plain'}, one short review per request, best of "
             f"{results['rounds']} interleaved rounds, load average at the end "
             f"{', '.join(f'{x:.1f}' for x in results['load_average_at_end'])} (measured while other jobs ran)", "",
             "| protocol | clients | reviews/s | p50 ms | p99 ms |", "| --- | --- | --- | --- | --- |"]
    for cell in results["cells"]:
        lines.append(f"| {cell['protocol']} | {cell['clients']} | {cell['reviews_per_second']} | {cell['p50_ms']} | "
                     f"{cell['p99_ms']} |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
