"""Throughput and latency of `bertvino serve` with 1, 8, 32 and 64 concurrent clients, short and long reviews.

    python benchmarks/serve_bench.py [-m BUNDLE] [--data aclImdb_v1.tar.gz --split test] [--requests 256]

Starts `bertvino serve` in a subprocess on a free loopback port (it warms itself up before it says it is ready),
then for each kind of review and each concurrency level sends `--requests`
requests of one review each from that many client threads (`bertvino.client`, a new connection per request), and
records reviews/s, p50/p99 latency per request as a client sees it, refusals (503 past --max-in-flight) and the
server's mean batch size (from /metrics). Short reviews are under 400 characters, long ones over 2,000 (longer
than the model's max_seq_length, so each is a full-length sequence): from --data (anything
`bertvino.core.reviews.read_reviews` reads), else from a small built-in list (the long text is that list joined).
Writes benchmarks/results/serve.json and serve.md with the machine and its load average, since the clients and the
server share the CPU with whatever else runs. Loopback only; a bounded number of requests; the server is stopped
with SIGTERM at the end.
"""

import argparse
import itertools
import json
import os
import re
import signal
import subprocess
import sys
import threading
import tempfile
import time
from pathlib import Path

from bertvino.core.bundle import load_bundle
from bertvino.client import Client, ServiceError
from bertvino.infer.bench import percentiles
from bertvino.models import find_model

from common import RESULTS_DIR, measured_on, write_results

REVIEWS = [
    "A moving, beautifully acted film. I loved every minute.",
    "What a waste of two hours.",
    "The plot was thin and the dialogue wooden, but the cinematography almost made up for it. Almost.",
    "I went in expecting very little and came out grinning: sharp writing, a cast clearly having fun, and an "
    "ending that earns its sentimentality instead of demanding it.",
    "Dull.",
    "Every scene drags. The lead mumbles through his lines, the villain is a cardboard cutout, and the twist is "
    "visible from the opening credits. I kept checking my watch and wondering why nobody in the editing room "
    "had the courage to cut forty minutes from this bloated mess.",
    "Not the director's best work, but a solid, enjoyable thriller with a terrific central performance.",
    "My kids watched it twice in one weekend and so did I. Funny, warm and surprisingly clever.",
]

SHORT_CHARS, LONG_CHARS = 400, 2000  # a short review has fewer characters, a long one more



def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-m", "--model", help="bundle directory or bundled model name (default: the bundled model)")
    parser.add_argument("--data", nargs="+", metavar="PATH", help="reviews to send (default: a built-in list)")
    parser.add_argument("--split", help="only reviews under this folder of --data (e.g. test)")
    parser.add_argument("--max-texts", type=int, default=200, help="short and long reviews taken from --data, each")
    parser.add_argument("--requests", type=int, default=256, help="requests per concurrency level and review kind")
    parser.add_argument("--clients", type=int, nargs="+", default=[1, 8, 32, 64], help="concurrency levels")
    parser.add_argument("--max-batch-size", type=int, default=32)
    parser.add_argument("--max-wait-ms", type=float, default=5.0)
    parser.add_argument("-d", "--device", default="CPU")
    parser.add_argument("--precision", "--inference-precision", dest="precision", default="auto")
    parser.add_argument("--output-dir", type=Path, default=RESULTS_DIR)
    args = parser.parse_args()

    bundle = load_bundle(find_model(args.model))
    kinds = read_texts(args.data, args.split, args.max_texts) if args.data else builtin_texts()
    options = {"host": "127.0.0.1", "device": args.device, "max_batch_size": args.max_batch_size,
               "max_wait_ms": args.max_wait_ms, "precision": args.precision}
    load_before = os.getloadavg()
    with running_server(bundle.path, options) as port:
        client = Client(port=port, timeout=120)  # finds the model's name on its first request
        levels = []
        for kind, texts in kinds.items():
            for clients in args.clients:
                level = {"reviews": kind, **measure(client, port, texts, requests=args.requests, clients=clients)}
                print(f"{kind:5} reviews, {clients:3d} clients: {level['reviews_per_second']:8.1f} reviews/s, p50 "
                      f"{level['latency_ms']['p50_ms']:7.1f} ms, p99 {level['latency_ms']['p99_ms']:7.1f} ms, mean "
                      f"batch {level['mean_batch_size']:.1f}, errors {level['errors']}", flush=True)
                levels.append(level)

    results = {
        "benchmark": "serve",
        "bundle": {"path": str(bundle.path.resolve()), "precision": bundle.precision,
                   "max_seq_length": bundle.max_seq_length, "labels": list(bundle.labels)},
        "server": options,
        "texts": {kind: {"source": " ".join(args.data) if args.data else "built-in", "count": len(texts),
                         "mean_chars": round(sum(map(len, texts)) / len(texts), 1)} for kind, texts in kinds.items()},
        "levels": levels,
        "load_average_before": [round(load, 2) for load in load_before],
        **measured_on(),
    }
    write_results(args.output_dir / "serve.json", results, markdown(results))
    print(f"Wrote {args.output_dir / 'serve.json'} and serve.md")


def builtin_texts() -> dict:
    short = [text for text in REVIEWS if len(text) < SHORT_CHARS]
    long = " ".join(REVIEWS)
    while len(long) <= LONG_CHARS:
        long += " " + long
    return {"short": short, "long": [long]}


def read_texts(paths, split, limit: int) -> dict:
    """Up to `limit` short and `limit` long reviews from `paths`, in the order read."""
    from bertvino.core.reviews import read_reviews
    kinds = {"short": [], "long": []}
    for review in read_reviews(paths, split=split, on_skip=lambda *_: None):
        kind = "short" if len(review.text) < SHORT_CHARS else "long" if len(review.text) > LONG_CHARS else None
        if kind and len(kinds[kind]) < limit:
            kinds[kind].append(review.text)
        if all(len(texts) == limit for texts in kinds.values()):
            break
    if not all(kinds.values()):
        sys.exit(f"serve_bench: {' '.join(paths)} lacks short (< {SHORT_CHARS} characters) or long "
                 f"(> {LONG_CHARS}) reviews")
    return kinds


class running_server:
    """`bertvino serve` in a subprocess on a free port for the duration of a `with`; yields the port and stops
    the server with SIGTERM."""

    def __init__(self, bundle_path, options: dict):
        self.command = [sys.executable, "-m", "bertvino", "serve", "-m", str(bundle_path), "--port", "0"]
        for name, value in options.items():
            self.command += [f"--{name.replace('_', '-')}", str(value)]
        descriptor, log = tempfile.mkstemp(prefix="serve-bench-", suffix=".log")
        os.close(descriptor)
        self.log = Path(log)

    def __enter__(self) -> int:
        with open(self.log, "w") as log:
            self.process = subprocess.Popen(self.command, stdout=log, stderr=log)
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                sys.exit(f"serve_bench: the server exited with status {self.process.returncode}:\n"
                         f"{self.log.read_text()}")
            match = re.search(r"serving model '.*' on http://127\.0\.0\.1:(\d+)", self.log.read_text())
            if match:
                return int(match.group(1))
            time.sleep(0.1)
        self._stop()
        sys.exit(f"serve_bench: the server did not start within 300 s; see {self.log}")

    def __exit__(self, *exc_info):
        self._stop()
        self.log.unlink(missing_ok=True)

    def _stop(self):
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


def measure(client: Client, port: int, texts: list, requests: int, clients: int) -> dict:
    """`requests` one-review requests from `clients` threads; throughput, latency and the server's batch sizes."""
    numbers = itertools.count()
    lock = threading.Lock()
    latencies, errors = [], []

    def client_thread():
        while True:
            with lock:
                index = next(numbers)
            if index >= requests:
                return
            started = time.perf_counter()
            try:
                client.classify([texts[index % len(texts)]])
            except ServiceError as err:
                errors.append(str(err))
                continue
            latency = time.perf_counter() - started
            with lock:
                latencies.append(latency)

    batches_before = batch_totals(port)
    threads = [threading.Thread(target=client_thread) for _ in range(clients)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    seconds = time.perf_counter() - started
    batches_after = batch_totals(port)
    batch_count = batches_after[1] - batches_before[1]
    latencies_ms = [latency * 1000 for latency in latencies]
    return {"clients": clients, "requests": requests, "errors": len(errors),
            "refused_503": sum(error.startswith("HTTP 503") for error in errors),
            "first_error": next(iter(errors), None),
            "seconds": round(seconds, 3), "reviews_per_second": round(len(latencies) / seconds, 2),
            "latency_ms": {**percentiles(latencies_ms, (50, 99)),
                           "mean_ms": round(sum(latencies_ms) / len(latencies_ms), 2)},
            "mean_batch_size": round((batches_after[0] - batches_before[0]) / batch_count, 2) if batch_count else 0}


def batch_totals(port: int) -> tuple:
    """(texts, batches) the server has run so far, from its batch-size histogram."""
    import urllib.request
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    text = opener.open(f"http://127.0.0.1:{port}/metrics", timeout=30).read().decode()
    return tuple(float(re.search(rf"^{name} (\S+)$", text, re.M).group(1))
                 for name in ("bertvino_batch_size_sum", "bertvino_batch_size_count"))


def markdown(results: dict) -> str:
    m = results["machine"]
    lines = ["# `bertvino serve` throughput and latency",
             "",
             f"Bundle `{results['bundle']['path']}` ({results['bundle']['precision']}, max_seq_length "
             f"{results['bundle']['max_seq_length']}); server options {json.dumps(results['server'])}; texts, one "
             "per request: " + "; ".join(f"{kind} from {t['source']} ({t['count']}, {t['mean_chars']} characters "
                                         f"on average)" for kind, t in results["texts"].items()) + ".",
             f"Machine: {m['cpu']}, {m['cores']} cores, flags {', '.join(m['cpu_flags'])}; OpenVINO "
             f"{m['openvino']}; load average before the run {results['load_average_before']}.",
             "",
             "| reviews | clients | requests | errors | reviews/s | p50 ms | p99 ms | mean batch size |",
             "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]
    for level in results["levels"]:
        lines.append(f"| {level['reviews']} | {level['clients']} | {level['requests']} | {level['errors']} | "
                     f"{level['reviews_per_second']:.1f} | {level['latency_ms']['p50_ms']:.1f} | "
                     f"{level['latency_ms']['p99_ms']:.1f} | {level['mean_batch_size']:.1f} |")
    lines += ["", f"Command: `{results['command']}`", ""]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
