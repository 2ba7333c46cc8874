"""`bertvino serve --model-repository DIR`: every model and version of DIR/NAME/VERSION/ served, kept in step with
the directory while clients send requests: new models and versions answered within 10 s of appearing (copied in as
a user would, `cp -r` to a hidden name then `mv`), no request failing meanwhile, and a removed version drained (its
requests in flight answered, then no longer served). Each test runs `bertvino serve` in its own process, as a user
starts it; the models are copies of the tiny fp32 bundle.
"""

import asyncio
import gc
import http.client
import json
import shutil
import signal
import subprocess
import sys
import threading
import time
import weakref
from pathlib import Path

import numpy as np
import pytest
import tritonclient.grpc as triton_grpc
from prometheus_client.parser import text_string_to_metric_families

from slowed import SLOWED_BATCHES  # tests/slowed.py

TEXT = "the movie was good and brilliant"
POLL = "0.3"  # seconds between scans: short, so that the tests spend their time on loading, not waiting


def start(argv: list, log: Path) -> subprocess.Popen:
    with open(log, "w") as stderr:
        return subprocess.Popen(argv, stderr=stderr)


def ports(process, log: Path) -> tuple:
    """(REST port, gRPC port) from the line serve prints once every model is warmed up."""
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        assert process.poll() is None, log.read_text()
        for line in log.read_text().splitlines():
            if line.startswith("bertvino serve: serving models of") and " and gRPC on 127.0.0.1:" in line:
                return (int(line.split("://127.0.0.1:")[1].split()[0]),
                        int(line.split(" and gRPC on 127.0.0.1:")[1].split()[0]))
        time.sleep(0.05)
    raise AssertionError(f"the server did not start: {log.read_text()}")


def stop(process, log: Path):
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            assert process.wait(timeout=60) == 0, log.read_text()
        finally:
            if process.poll() is None:
                process.kill()
                process.wait()


def rest(port: int, method: str, path: str, body=None) -> tuple:
    """(status, parsed JSON body) of one request."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    try:
        connection.request(method, path, body=None if body is None else json.dumps(body).encode(),
                           headers={"Content-Type": "application/json"})
        response = connection.getresponse()
        return response.status, json.loads(response.read())
    finally:
        connection.close()


def v2_infer(port: int, path: str) -> tuple:
    """(status, model_version answered, or the error) of a v2 infer of one text at /v2/models/PATH/infer."""
    status, body = rest(port, "POST", f"/v2/models/{path}/infer",
                        {"inputs": [{"name": "text", "datatype": "BYTES", "shape": [1], "data": [TEXT]}]})
    return status, body.get("model_version", body.get("error"))


def copy_in(bundle: Path, destination: Path):
    """As a user would: copy to a hidden name beside `destination` (`cp -r`), then rename it into place (`mv`)."""
    hidden = destination.with_name("." + destination.name)
    shutil.copytree(bundle, hidden)
    hidden.rename(destination)


def metric(port: int, name: str) -> float:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        connection.request("GET", "/metrics")
        text = connection.getresponse().read().decode()
    finally:
        connection.close()
    return {s.name: s.value for family in text_string_to_metric_families(text) for s in family.samples}[name]


@pytest.fixture
def repository(tmp_path, fp32_bundle) -> Path:
    """DIR with two models, alpha and beta, at version 1."""
    root = tmp_path / "models"
    for name in ("alpha", "beta"):
        shutil.copytree(fp32_bundle, root / name / "1")
    return root


def test_new_models_and_versions_are_served_within_10_s_while_no_request_fails(repository, fp32_bundle, tmp_path):
    log = tmp_path / "server.log"
    process = start([sys.executable, "-m", "bertvino", "serve", "--model-repository", str(repository), "--port", "0",
                     "--grpc-port", "0", "--poll-seconds", POLL], log)
    try:
        http_port, grpc_port = ports(process, log)
        status, listed = rest(http_port, "GET", "/v1/models")
        assert status == 200 and listed["models"] == [{"name": "alpha", "version": "1"},
                                                      {"name": "beta", "version": "1"}]

        # clients of every protocol, sending requests all along, each remembering what answered
        answers, stopping = [], threading.Event()

        def tf_serving_client(name):
            while not stopping.is_set():
                status, body = rest(http_port, "POST", f"/v1/models/{name}:predict", {"instances": [TEXT]})
                answers.append(("v1", name, status, body.get("error")))

        def v2_client(name):
            while not stopping.is_set():
                answers.append(("v2", name, *v2_infer(http_port, name)))

        def grpc_client(name):
            client = triton_grpc.InferenceServerClient(f"127.0.0.1:{grpc_port}")
            while not stopping.is_set():
                tensor = triton_grpc.InferInput("text", [1], "BYTES")
                tensor.set_data_from_numpy(np.array([TEXT.encode()], dtype=object))
                try:
                    result = client.infer(name, [tensor]).get_response()
                    answers.append(("grpc", name, 200, result.model_version))
                except Exception as err:  # noqa: BLE001 (any failure is what the test counts)
                    answers.append(("grpc", name, 0, str(err)))

        clients = [threading.Thread(target=tf_serving_client, args=("alpha",)),
                   threading.Thread(target=v2_client, args=("alpha",)),
                   threading.Thread(target=v2_client, args=("beta",)),
                   threading.Thread(target=grpc_client, args=("beta",))]
        for client in clients:
            client.start()
        time.sleep(1)

        copy_in(fp32_bundle, repository / "alpha" / "2")
        version_appeared = time.monotonic()
        shutil.copytree(fp32_bundle, repository / ".gamma" / "1")
        (repository / ".gamma").rename(repository / "gamma")
        model_appeared = time.monotonic()

        version_answered = model_answered = None
        while version_answered is None or model_answered is None:
            assert time.monotonic() - version_appeared < 30, log.read_text()
            if version_answered is None and v2_infer(http_port, "alpha/versions/2") == (200, "2"):
                version_answered = time.monotonic()
            if model_answered is None and v2_infer(http_port, "gamma")[0] == 200:
                model_answered = time.monotonic()
            time.sleep(0.05)
        time.sleep(1)  # the clients go on a little after the switch
        stopping.set()
        for client in clients:
            client.join(timeout=60)

        assert version_answered - version_appeared < 10
        assert model_answered - model_appeared < 10
        failed = [answer for answer in answers if answer[2] != 200]
        assert not failed, failed[:5]
        assert len(answers) > 20
        # the unversioned alpha moved to version 2 once it was warm; beta stayed at 1
        alpha_versions = [answer[3] for answer in answers if answer[:2] == ("v2", "alpha")]
        assert alpha_versions[0] == "1" and alpha_versions[-1] == "2"
        assert {answer[3] for answer in answers if answer[1] == "beta"} == {"1"}

        status, metadata = rest(http_port, "GET", "/v2/models/alpha")
        assert status == 200 and metadata["versions"] == ["2", "1"]
        status, listed = rest(http_port, "GET", "/v1/models")
        assert [(m["name"], m["version"]) for m in listed["models"]] == \
            [("alpha", "2"), ("alpha", "1"), ("beta", "1"), ("gamma", "1")]
        status, model_status = rest(http_port, "GET", "/v1/models/alpha")
        assert [(v["version"], v["state"]) for v in model_status["model_version_status"]] == \
            [("2", "AVAILABLE"), ("1", "AVAILABLE")]
        assert rest(http_port, "POST", "/v1/models/alpha/versions/1:predict", {"instances": [TEXT]})[0] == 200
        assert rest(http_port, "GET", "/v1/models/alpha/versions/2/metadata")[1]["model_spec"]["version"] == "2"
        status, body = rest(http_port, "POST", "/v1/models/alpha/versions/3:predict", {"instances": [TEXT]})
        assert status == 404 and "has no version '3'" in body["error"]
        grpc = triton_grpc.InferenceServerClient(f"127.0.0.1:{grpc_port}")
        assert grpc.get_model_metadata("alpha", "1").versions == ["2", "1"]
        assert grpc.is_model_ready("gamma")
    finally:
        stop(process, log)
    assert "ignoring" not in log.read_text()  # hidden temporary names are skipped silently


# `bertvino serve --model-repository` with each batch's start slowed down by argv[2] seconds, so that requests are
# still in flight when their version is removed.
SLOW_SERVER = SLOWED_BATCHES + """
from bertvino.cli import main
sys.exit(main(["serve", "--model-repository", sys.argv[1], "--port", "0", "--grpc-port", "0",
               "--max-batch-size", "1", "--poll-seconds", "0.2"]))
"""


def test_a_removed_version_answers_its_requests_in_flight_then_is_no_longer_served(repository, fp32_bundle,
                                                                                   tmp_path):
    shutil.copytree(fp32_bundle, repository / "alpha" / "2")
    log = tmp_path / "server.log"
    process = start([sys.executable, "-c", SLOW_SERVER, str(repository), "0.3"], log)
    try:
        http_port, _ = ports(process, log)
        results = []
        calls = [threading.Thread(target=lambda: results.append(v2_infer(http_port, "alpha/versions/2")))
                 for _ in range(8)]
        for call in calls:
            call.start()
        deadline = time.monotonic() + 30
        while metric(http_port, "bertvino_instances_in_progress") < 8:  # every request is in
            assert time.monotonic() < deadline, log.read_text()
            time.sleep(0.02)
        shutil.rmtree(repository / "alpha" / "2")
        while rest(http_port, "GET", "/v2/models/alpha/versions/2")[0] != 404:  # no longer routed to
            assert time.monotonic() < deadline, log.read_text()
            time.sleep(0.05)
        assert metric(http_port, "bertvino_instances_in_progress") > 0, "nothing was left in flight to drain"
        assert v2_infer(http_port, "alpha") == (200, "1")  # unversioned: the newest left
        for call in calls:
            call.join(timeout=60)
        assert results == [(200, "2")] * 8  # every request in flight finished on the version it started on
        status, body = rest(http_port, "POST", "/v1/models/alpha/versions/2:predict", {"instances": [TEXT]})
        assert status == 404 and "has no version '2'" in body["error"]
        assert rest(http_port, "GET", "/v2/models/alpha")[1]["versions"] == ["1"]
        while "model 'alpha' version 2 drained" not in log.read_text():  # its batcher closed
            assert time.monotonic() < deadline, log.read_text()
            time.sleep(0.05)

        shutil.rmtree(repository / "beta")  # a whole model removed
        while rest(http_port, "GET", "/v2/models/beta")[0] != 404:
            assert time.monotonic() < deadline, log.read_text()
            time.sleep(0.05)
    finally:
        stop(process, log)


def test_a_version_directory_that_is_not_a_number_is_ignored_with_one_warning(repository, fp32_bundle, tmp_path):
    shutil.copytree(fp32_bundle, repository / "alpha" / "latest")
    (repository / "beta" / "2").mkdir()  # no model.xml yet: not a version until it has one
    log = tmp_path / "server.log"
    process = start([sys.executable, "-m", "bertvino", "serve", "--model-repository", str(repository), "--port", "0",
                     "--grpc-port", "0", "--poll-seconds", "0.1"], log)
    try:
        http_port, _ = ports(process, log)
        time.sleep(0.5)  # several scans
        assert rest(http_port, "GET", "/v2/models/alpha")[1]["versions"] == ["1"]
        assert rest(http_port, "GET", "/v2/models/beta")[1]["versions"] == ["1"]
    finally:
        stop(process, log)
    warnings = [line for line in log.read_text().splitlines() if "ignoring" in line]
    assert warnings == [f"ignoring {repository / 'alpha' / 'latest'}: a version directory's name must be a whole "
                        f"number"]


def test_a_drained_version_frees_its_compiled_model(repository):
    """Memory grows with every version served, so a removed one must give its memory back once drained."""
    from bertvino.infer.batcher import DynamicBatcher
    from bertvino.infer.classifier import Classifier
    from bertvino.infer.refusals import ApiError
    from bertvino.infer.repository import Repository

    async def scenario():
        served = Repository(repository, lambda bundle: Classifier(bundle, performance_hint="THROUGHPUT",
                                                                  precision="f32"),
                            lambda classifier: DynamicBatcher(classifier, max_batch_size=4, max_wait_ms=0))
        await served.warm_up()
        classifier = weakref.ref(served.resolve("alpha").classifier)
        assert (await served.resolve("alpha").batcher.classify([TEXT]))[0].label
        shutil.rmtree(repository / "alpha")
        await served.poll_once()
        with pytest.raises(ApiError, match="model 'alpha' is not served here; this server serves 'beta'"):
            served.resolve("alpha")
        for _ in range(200):
            if classifier() is None:
                break
            await asyncio.sleep(0.05)
        assert classifier() is None, gc.get_referrers(classifier())
        await served.close()

    asyncio.run(scenario())
