"""What a model repository costs: memory per served version, and how long a new version takes to be answered.

    python benchmarks/serve_repository.py [-m BUNDLE] [--versions 3]

Starts `bertvino serve --model-repository DIR --poll-seconds 0.5` with DIR/model/1 a copy of the bundle (default:
the bundled model), then copies in versions 2, 3, ... one at a time as a user would (`cp -r` to a hidden name,
`mv`), recording for each the seconds from its directory appearing to its first answer (scan + load + compile +
warm-up) and the server's resident memory (VmRSS) once it answers; then removes every version but the last and
records the memory once they have drained. Writes benchmarks/results/serve_repository.json and .md.
"""

import argparse
import http.client
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bertvino.models import find_model

from common import RESULTS_DIR, measured_on, write_results

BODY = json.dumps({"inputs": [{"name": "text", "datatype": "BYTES", "shape": [1],
                               "data": ["A moving, beautifully acted film."]}]}).encode()


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-m", "--model", help="bundle directory or bundled model name (default: the bundled model)")
    parser.add_argument("--versions", type=int, default=3, help="versions to serve at once (default: %(default)s)")
    args = parser.parse_args()
    bundle = find_model(args.model)

    rows = []
    with tempfile.TemporaryDirectory() as directory:
        root = Path(directory) / "models"
        shutil.copytree(bundle, root / "model" / "1")
        log = Path(directory) / "server.log"
        with open(log, "w") as stderr:
            server = subprocess.Popen([sys.executable, "-m", "bertvino", "serve", "--model-repository", str(root),
                                       "--port", "0", "--poll-seconds", "0.5"],
                                      stderr=stderr)
        try:
            started = time.monotonic()
            port = wait_for_port(server, log)
            runs = next(line.split(": ", 2)[2] for line in log.read_text().splitlines()
                        if line.startswith("bertvino serve: serving model 'model' version 1 "))
            rows.append({"event": "started with version 1", "seconds": round(time.monotonic() - started, 2),
                         "rss_mb": rss_mb(server.pid)})
            for version in range(2, args.versions + 1):
                shutil.copytree(bundle, root / "model" / f".{version}")
                (root / "model" / f".{version}").rename(root / "model" / str(version))
                appeared = time.monotonic()
                while infer(port, f"model/versions/{version}") != 200:
                    time.sleep(0.05)
                rows.append({"event": f"version {version} copied in, answered", "rss_mb": rss_mb(server.pid),
                             "seconds": round(time.monotonic() - appeared, 2)})
            for version in range(1, args.versions):
                shutil.rmtree(root / "model" / str(version))
            removed = time.monotonic()
            while log.read_text().count("drained") < args.versions - 1:
                time.sleep(0.05)
            time.sleep(1)  # the allocator returns memory lazily
            rows.append({"event": f"versions 1-{args.versions - 1} removed, drained", "rss_mb": rss_mb(server.pid),
                         "seconds": round(time.monotonic() - removed, 2)})
        finally:
            server.send_signal(signal.SIGTERM)
            server.wait(timeout=60)

    results = {**measured_on(), "load_average_at_end": os.getloadavg(), "bundle": str(bundle), "runs": runs,
               "rows": rows}
    markdown = "\n".join([f"`{results['command']}` on {results['machine']}; each version runs {runs}", "",
                          "| event | seconds | server RSS MB |", "| --- | ---: | ---: |",
                          *(f"| {r['event']} | {r['seconds']} | {r['rss_mb']} |" for r in rows), ""])
    write_results(RESULTS_DIR / "serve_repository", results, markdown)
    print(markdown)


def wait_for_port(server, log: Path) -> int:
    while True:
        if server.poll() is not None:
            raise SystemExit(log.read_text())
        for line in log.read_text().splitlines():
            if line.startswith("bertvino serve: serving models of"):
                return int(line.split("://127.0.0.1:")[1].split()[0])
        time.sleep(0.05)


def infer(port: int, path: str) -> int:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    try:
        connection.request("POST", f"/v2/models/{path}/infer", body=BODY)
        response = connection.getresponse()
        response.read()
        return response.status
    finally:
        connection.close()


def rss_mb(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return round(int(line.split()[1]) / 1024)
    raise RuntimeError("no VmRSS")


if __name__ == "__main__":
    main()
