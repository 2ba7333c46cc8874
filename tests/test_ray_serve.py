"""`bertvino serve --ray --replicas 2` on a local Ray: TF Serving and Open Inference Protocol requests from 8
concurrent clients get `Classifier`'s answers, every replica answers, and SIGTERM stops everything (exit 0).

One server for the module, over TLS with an API key (Ray Serve's proxy holds the TLS, the replicas' app the key):
starting Ray, Ray Serve and two replicas costs tens of seconds on 2 busy cores.
"""

import json
import os
import signal
import socket
import ssl
import subprocess
import sys
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

pytest.importorskip("ray.serve")

from bertvino.core.bundle import load_bundle  # noqa: E402
from bertvino.infer.classifier import Classifier  # noqa: E402

from test_open_inference import self_signed  # noqa: E402  (tests/test_open_inference.py)

MODEL = "tiny"
TEXTS = ["a great movie, wonderful acting", "dull and far too long", "it was fine", "the best film this year",
         "I walked out", "a moving, beautifully acted film", "not bad at all", "terrible script, worse acting"]
START_SECONDS = 240  # a cold local Ray + Serve + 2 replicas, while other jobs share the 2 cores
KEY = "ray-serve-test-key"
TLS = {}  # the client's SSL context, once the server's certificate exists


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture(scope="module")
def server(fp32_bundle, tmp_path_factory):
    """A running `serve --ray --replicas 2`: (process, base URL, stderr file); stopped by the last test or here."""
    port = free_port()
    directory = tmp_path_factory.mktemp("ray-serve")
    stderr_path = directory / "stderr.txt"
    cert, key = self_signed(directory)
    TLS["context"] = ssl.create_default_context(cafile=str(cert))
    with open(stderr_path, "w") as stderr:
        process = subprocess.Popen([sys.executable, "-m", "bertvino", "serve", "--ray", "--replicas", "2",
                                    "-m", str(fp32_bundle), "--model-name", MODEL, "--port", str(port),
                                    "--precision", "f32", "--max-wait-ms", "20", "--ssl-certfile", str(cert),
                                    "--ssl-keyfile", str(key)],
                                   env={**os.environ, "BERTVINO_API_KEY": KEY},
                                   stdout=subprocess.DEVNULL, stderr=stderr, start_new_session=True)
    deadline = time.monotonic() + START_SECONDS
    while "serving model" not in stderr_path.read_text():
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            pytest.fail(f"serve --ray did not start: {stderr_path.read_text()[-3000:]}")
        time.sleep(0.5)
    yield process, f"https://localhost:{port}", stderr_path
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGKILL)


def post(url, body: dict):
    request = urllib.request.Request(url, json.dumps(body).encode(), {"Content-Type": "application/json",
                                                                      "Authorization": f"Bearer {KEY}"})
    with urllib.request.urlopen(request, timeout=60, context=TLS["context"]) as response:
        return response.status, json.loads(response.read())


def get(url, key=KEY):
    request = urllib.request.Request(url, headers={"Authorization": f"Bearer {key}"} if key else {})
    try:
        with urllib.request.urlopen(request, timeout=30, context=TLS["context"]) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as err:
        return err.code, err.read()


def test_8_clients_get_the_classifiers_answers_over_both_protocols(server, fp32_bundle):
    _, url, stderr_path = server
    expected = Classifier(load_bundle(fp32_bundle), precision="f32").predict(TEXTS)

    def client(i):
        """Half the clients speak TF Serving, half the Open Inference Protocol; each sends 6 requests."""
        answers = []
        for round_ in range(6):
            texts = [TEXTS[(i + round_) % len(TEXTS)], TEXTS[(i + round_ + 3) % len(TEXTS)]]
            if i % 2:
                status, body = post(f"{url}/v1/models/{MODEL}:predict", {"instances": texts})
                got = [(p["label"], [p["probabilities"][label] for label in expected[0].probabilities])
                       for p in body["predictions"]]
            else:
                status, body = post(f"{url}/v2/models/{MODEL}/infer", {"inputs": [
                    {"name": "text", "datatype": "BYTES", "shape": [2], "data": texts}]})
                outputs = {output["name"]: output for output in body["outputs"]}
                probabilities = np.reshape(outputs["probabilities"]["data"], outputs["probabilities"]["shape"])
                got = list(zip(outputs["label"]["data"], probabilities.tolist()))
            assert status == 200
            answers += zip(texts, got)
        return answers

    with ThreadPoolExecutor(8) as pool:
        answers = [answer for answers in pool.map(client, range(8)) for answer in answers]
    assert len(answers) == 8 * 6 * 2
    by_text = {text: prediction for text, prediction in zip(TEXTS, expected)}
    for text, (label, probabilities) in answers:
        assert label == by_text[text].label
        np.testing.assert_allclose(probabilities, list(by_text[text].probabilities.values()), atol=1e-5)
    assert "with 2 Ray Serve replicas" in stderr_path.read_text()


def test_both_replicas_answer(server):
    """Each replica counts the texts it classified in its own /metrics, and a scrape goes to one of them: two
    different counts show two replicas (40 scrapes make missing one vanishingly unlikely). The module's other
    tests send an even number of texts (96 or none), so one more makes the total odd and the counts unequal."""
    _, url, _ = server
    assert post(f"{url}/v1/models/{MODEL}:predict", {"instances": [TEXTS[0]]})[0] == 200
    seen = set()
    for _ in range(40):
        status, body = get(f"{url}/metrics")
        assert status == 200
        seen.add(next(line for line in body.decode().splitlines() if line.startswith("bertvino_instances_total")))
        if len(seen) > 1:
            break
    assert len(seen) > 1, seen


def test_status_and_errors_are_the_apps(server):
    _, url, _ = server
    status, body = get(f"{url}/v1/models/{MODEL}")
    assert (status, json.loads(body)["model_version_status"][0]["state"]) == (200, "AVAILABLE")
    assert get(f"{url}/v2/health/ready")[0] == 200
    status, body = get(f"{url}/v1/models/other")
    assert status == 404 and "is not served here" in json.loads(body)["error"]
    assert get(f"{url}/v1/models/{MODEL}", key=None)[0] == 401
    assert get(f"{url}/v1/models/{MODEL}", key="wrong")[0] == 401
    with pytest.raises(urllib.error.URLError, match="CERTIFICATE_VERIFY_FAILED"):  # TLS, with that certificate
        urllib.request.urlopen(f"{url}/v2/health/live", timeout=30, context=ssl.create_default_context())


def test_sigterm_stops_cleanly(server):
    process, url, stderr_path = server
    process.send_signal(signal.SIGTERM)
    assert process.wait(timeout=120) == 0
    err = stderr_path.read_text()
    assert "Traceback" not in err and "bertvino serve: stopping" in err, err
    with pytest.raises(OSError):
        get(f"{url}/healthz")  # Ray Serve's proxy is gone with the local Ray
    with socket.socket() as probe:  # and its port is free again (for a server: connections may be in TIME_WAIT)
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        probe.bind(("127.0.0.1", int(url.rsplit(":", 1)[1])))
