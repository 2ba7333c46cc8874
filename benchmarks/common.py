"""What the benchmark scripts share: where the IMDB data and the results live, and how a result is written: whole
or not at all, with the machine it was measured on and the command that measured it.

The scripts run as `python benchmarks/NAME.py`, so this folder is on sys.path and `import common` finds this file.
Timing itself (percentiles, the compute floor, the machine description) is `bertvino.infer.bench`'s, so the
scripts and `bertvino bench` measure one way. `python benchmarks/common.py` prints the default data path.
"""

import contextlib
import fcntl
import shlex
import sys
import threading
import time
from pathlib import Path

from bertvino.core.files import write_json_atomically, write_text_atomically
from bertvino.infer.bench import describe_machine, percentiles

TIMING_LOCK = Path("/tmp/bertvino-timing.lock")  # held by every timed section when benchmarks share a machine


@contextlib.contextmanager
def timing_lock():
    """Hold the machine's timing lock while a timed section runs, so no other benchmark that takes it times on
    these cores meanwhile (two benchmarks timing at once would each measure the other)."""
    with open(TIMING_LOCK, "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_DATA = ROOT.parent / "shared" / "data" / "aclImdb_v1.tar.gz"  # the IMDB archive, in ../shared/data
RESULTS_DIR = ROOT / "benchmarks" / "results"


def add_data_option(parser):
    parser.add_argument("--data", default=str(DEFAULT_DATA), help="IMDB reviews: the aclImdb archive or folder "
                                                                  "(default: %(default)s)")


def measured_on() -> dict:
    """The machine and the command line, for a results file to record beside its numbers."""
    command = shlex.join(["python", f"benchmarks/{Path(sys.argv[0]).name}", *sys.argv[1:]])
    return {"machine": describe_machine(), "command": command}


def write_results(path, results: dict, markdown: str | None = None):
    """`results` to `path` as JSON and, given `markdown`, to the .md file beside it; each file appears whole."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    write_json_atomically(path.with_suffix(".json"), results)
    if markdown is not None:
        write_text_atomically(path.with_suffix(".md"), markdown)


def concurrent_requests(make_caller, texts: list, clients: int, requests: int, what: str) -> dict:
    """`requests` one-text requests from `clients` threads, each with the `caller = make_caller()` it made itself (a
    client library may keep per-thread state) and sent one request through before the clock starts: reviews/s, and
    p50/p99 latency in ms. A failed request ends the benchmark, naming `what`."""
    latencies, failures, counter, lock = [], [], iter(range(requests)), threading.Lock()
    connected = threading.Barrier(clients + 1)

    def next_index():
        with lock:
            return next(counter, None)

    def client_thread():
        try:
            caller = make_caller()
            caller(texts[0])
        except Exception as err:
            failures.append(err)
            raise
        finally:
            connected.wait()
        while (index := next_index()) is not None:
            started = time.perf_counter()
            try:
                caller(texts[index % len(texts)])
            except Exception as err:
                failures.append(err)
                return
            with lock:
                latencies.append(time.perf_counter() - started)

    threads = [threading.Thread(target=client_thread) for _ in range(clients)]
    for thread in threads:
        thread.start()
    connected.wait()
    started = time.perf_counter()
    for thread in threads:
        thread.join()
    seconds = time.perf_counter() - started
    if failures:
        raise SystemExit(f"{what}: a request failed: {failures[0]!r}")
    return {"reviews_per_second": round(requests / seconds, 1),
            **percentiles([latency * 1000 for latency in latencies], (50, 99))}


if __name__ == "__main__":
    print(DEFAULT_DATA)
