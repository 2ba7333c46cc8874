"""`bertvino serve`: answers equal to the classifier's, dynamic batching, refusals that leave the service up, the
status/health/metrics/OpenAPI endpoints, the client, and a SIGTERM that lets in-flight requests finish."""

import asyncio
import contextlib
import json
import signal
import socket
import subprocess
import sys
import threading
import time
from types import SimpleNamespace

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import (content_type_conformance, not_a_server_error, response_schema_conformance,
                                 status_code_conformance)

pytest.importorskip("starlette")
pytest.importorskip("uvicorn")
pytest.importorskip("prometheus_client")

from prometheus_client.parser import text_string_to_metric_families  # noqa: E402

from bertvino.core.bundle import load_bundle  # noqa: E402
from bertvino.client import Client, ServiceError  # noqa: E402
from bertvino.core.errors import BertvinoError  # noqa: E402
from bertvino.infer.batcher import BatcherClosed, DynamicBatcher  # noqa: E402
from bertvino.infer.classifier import AsyncBatches, Classifier  # noqa: E402
from bertvino.infer.server import Limits, ServeOptions, Timeouts, create_app, run, uvicorn_server  # noqa: E402

MODEL = "tiny"
LIMITS = Limits(max_body_bytes=16 * 1024, max_instances=16, max_chars=2000)
TEXTS = ["the movie was good and brilliant", "awful , boring and dull !", "it was a film", "loved it",
         "the plot was very bad and the acting was terrible", "superb", "this film is un ##ing ##ly good",
         "hated the movie . the acting was dull and the plot boring", "great great great", "?",
         "a wonderful film , and the acting is superb !", "the the the the the the the the the the the the"]


def free_listener() -> socket.socket:
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(128)
    return listener


@pytest.fixture(scope="module")
def server(fp32_bundle):
    """The real app under uvicorn in a thread, on an ephemeral loopback port, with small limits and a 50 ms
    batching window (so concurrent requests surely meet in one batch)."""
    classifier = Classifier(load_bundle(fp32_bundle), performance_hint="THROUGHPUT")
    app = create_app(classifier, MODEL, LIMITS, max_batch_size=8, max_wait_ms=50)
    with serving(app) as port:
        yield SimpleNamespace(port=port, app=app)


@contextlib.contextmanager
def serving(app, timeouts=Timeouts(), wait_until_ready=True):
    """`app` under uvicorn in a thread, on an ephemeral loopback port, until the `with` ends; yields the port
    once uvicorn listens and (with `wait_until_ready`) the service is warmed up."""
    listener = free_listener()
    server = uvicorn_server(app, timeouts, log_level="warning")
    thread = threading.Thread(target=server.run, kwargs={"sockets": [listener]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 60
    while not (server.started and (app.state.service.ready or not wait_until_ready)):
        assert thread.is_alive() and time.monotonic() < deadline, "the server did not start"
        time.sleep(0.02)
    try:
        yield listener.getsockname()[1]
    finally:
        server.should_exit = True
        thread.join(timeout=30)
        listener.close()


@pytest.fixture(scope="module")
def expected(fp32_bundle):
    """What the classifier says about each text alone."""
    classifier = Classifier(load_bundle(fp32_bundle))
    return {text: classifier.predict([text])[0] for text in TEXTS}


def assert_same(answer: dict, prediction):
    assert answer["label"] == prediction.label
    assert list(answer["probabilities"]) == list(prediction.probabilities)
    assert answer["probabilities"] == pytest.approx(prediction.probabilities, abs=1e-5)


def http(port: int, method: str, path: str, body: bytes = None, headers: dict = None):
    """(status, headers, body) of one request on a fresh connection, with exactly the bytes given."""
    import http.client
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        connection.request(method, path, body=body, headers=headers or {})
        response = connection.getresponse()
        return response.status, dict(response.getheaders()), response.read()
    finally:
        connection.close()


def raw_http(port: int, head: bytes, body_parts=()) -> tuple:
    """(status, JSON body) for a request written byte by byte, so its framing can lie or be chunked."""
    with socket.create_connection(("127.0.0.1", port), timeout=30) as connection:
        connection.sendall(head)
        for part in body_parts:
            try:
                connection.sendall(part)
            except (BrokenPipeError, ConnectionResetError):  # the server answered early and closed
                break
        answer = b""
        while chunk := connection.recv(65536):
            answer += chunk
    status_line, _, rest = answer.partition(b"\r\n")
    return int(status_line.split()[1]), json.loads(rest.partition(b"\r\n\r\n")[2])


def metric_samples(port: int) -> dict:
    """{(name, labels as sorted tuple): value} from /metrics."""
    status, headers, body = http(port, "GET", "/metrics")
    assert status == 200 and headers["content-type"].startswith("text/plain")
    return {(sample.name, tuple(sorted(sample.labels.items()))): sample.value
            for family in text_string_to_metric_families(body.decode()) for sample in family.samples}


def batches_over_one(samples: dict) -> float:
    """How many batches held more than one text."""
    return (samples[("bertvino_batch_size_count", ())] - samples[("bertvino_batch_size_bucket", (("le", "1.0"),))])


def concurrently(function, arguments: list) -> list:
    """function(argument) for each argument, each in its own thread, all released at once; results in order."""
    barrier = threading.Barrier(len(arguments))
    results = [None] * len(arguments)

    def call(index, argument):
        barrier.wait()
        try:
            results[index] = function(argument)
        except Exception as err:  # reported by the caller's assertions
            results[index] = err

    threads = [threading.Thread(target=call, args=(i, a)) for i, a in enumerate(arguments)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    return results


# --- answers and batching ----------------------------------------------------------------------------------------

def test_concurrent_clients_get_the_classifiers_answers_in_shared_batches(server, expected):
    before = metric_samples(server.port)
    client = Client(port=server.port, model_name=MODEL)
    answers = concurrently(lambda text: client.classify([text]), TEXTS)
    for text, answer in zip(TEXTS, answers):
        assert not isinstance(answer, Exception), answer
        assert len(answer) == 1
        assert_same(answer[0], expected[text])
    after = metric_samples(server.port)
    # Every request held one text, so a batch of more than one text joined several requests.
    assert batches_over_one(after) > batches_over_one(before)
    assert after[("bertvino_instances_total", ())] - before[("bertvino_instances_total", ())] == len(TEXTS)


def test_one_request_with_many_texts_keeps_their_order(server, expected):
    answers = Client(port=server.port).classify(TEXTS)  # model name discovered from GET /v1/models
    for text, answer in zip(TEXTS, answers):
        assert_same(answer, expected[text])


def test_batcher_gathers_concurrent_callers(fp32_bundle, expected):
    classifier = Classifier(load_bundle(fp32_bundle), performance_hint="THROUGHPUT")
    sizes = []

    async def scenario():
        batcher = DynamicBatcher(classifier, max_batch_size=4, max_wait_ms=200,
                                 on_batch=lambda waits: sizes.append(len(waits)))
        await batcher.start()
        results = await asyncio.gather(*(batcher.classify([text]) for text in TEXTS[:8]))
        await batcher.close()
        return results

    results = asyncio.run(scenario())
    for text, (prediction,) in zip(TEXTS, results):
        assert prediction.label == expected[text].label
        assert prediction.probabilities == pytest.approx(expected[text].probabilities, abs=1e-5)
    assert sum(sizes) == 8 and 1 < max(sizes) <= 4  # shared batches, none over the maximum


def test_close_finishes_queued_batches_then_refuses(fp32_bundle, expected, monkeypatch):
    """Texts still waiting for a batch when close() starts are classified, not dropped."""
    slow_submit = AsyncBatches.submit

    def submit(self, id_lists, userdata):
        time.sleep(0.05)
        slow_submit(self, id_lists, userdata)

    monkeypatch.setattr(AsyncBatches, "submit", submit)
    classifier = Classifier(load_bundle(fp32_bundle), performance_hint="THROUGHPUT")

    async def scenario():
        batcher = DynamicBatcher(classifier, max_batch_size=1, max_wait_ms=0)
        await batcher.start()
        calls = [asyncio.create_task(batcher.classify([text])) for text in TEXTS[:6]]
        while batcher.pending < 3:  # texts tokenized and queued behind the slow submits
            await asyncio.sleep(0.005)
        await batcher.close()
        assert all(call.done() for call in calls)
        with pytest.raises(BatcherClosed):
            await batcher.classify(["too late"])
        return [call.result() for call in calls]

    for text, (prediction,) in zip(TEXTS, asyncio.run(scenario())):
        assert prediction.probabilities == pytest.approx(expected[text].probabilities, abs=1e-5)


# --- refusals ----------------------------------------------------------------------------------------------------

BAD_REQUESTS = [
    (b"this is not json", 400, "the body is not valid JSON"),
    (b'{"instances": ["caf\xe9"]}', 400, "the body is not valid JSON"),  # Latin-1, not UTF-8
    (b"[" * 5000, 400, "the body is not valid JSON"),  # nested too deep for the parser
    (b'["a text"]', 400, "the body must be a JSON object"),
    (b"{}", 400, 'the body has no "instances" list'),
    (b'{"inputs": ["a text"]}', 400, '"inputs" is not supported'),
    (b'{"instances": "a text"}', 400, '"instances" must be a list of strings, not a string'),
    (b'{"instances": []}', 400, '"instances" is empty'),
    (b'{"instances": ["a", "b", "c", 4]}', 400, "instances[3] is not a string but a number"),
    (b'{"instances": ["a", null]}', 400, "instances[1] is not a string but null"),
    (b'{"instances": [""]}', 400, "instances[0] is empty"),
    (b'{"instances": ["a good film", " \\n"]}', 400, "instances[1] is only whitespace"),
    (json.dumps({"instances": ["ok", "x" * 2001]}).encode(), 400, "instances[1] has 2001 characters, over the "
                                                                  "limit of 2000"),
    (json.dumps({"instances": ["a"] * 17}).encode(), 413, "17 instances in one request is over the limit of 16"),
    (json.dumps({"instances": ["a" * 1500] * 12}).encode(), 413, "request body is over the limit of 16384 bytes"),
]


@pytest.mark.parametrize("body, status, message", BAD_REQUESTS, ids=[m for _, _, m in BAD_REQUESTS])
def test_bad_predict_requests_are_refused_and_the_service_stays_up(server, body, status, message):
    got_status, headers, got_body = http(server.port, "POST", f"/v1/models/{MODEL}:predict", body)
    assert (got_status, headers["content-type"]) == (status, "application/json")
    error = json.loads(got_body)
    assert list(error) == ["error"] and message in error["error"] and "\n" not in error["error"]
    assert Client(port=server.port, model_name=MODEL).classify(["still up"])[0]["label"]


def test_a_too_large_content_length_is_refused_before_reading(server):
    head = (f"POST /v1/models/{MODEL}:predict HTTP/1.1\r\nHost: test\r\nContent-Type: application/json\r\n"
            f"Content-Length: 100000000\r\nConnection: close\r\n\r\n").encode()
    status, error = raw_http(server.port, head)  # no body sent at all: the header alone decides
    assert status == 413 and "over the limit of 16384 bytes" in error["error"]


def test_a_chunked_body_is_counted_as_it_streams(server):
    head = (f"POST /v1/models/{MODEL}:predict HTTP/1.1\r\nHost: test\r\nTransfer-Encoding: chunked\r\n"
            f"Connection: close\r\n\r\n").encode()
    text = json.dumps({"instances": ["a" * 1000] * 12}).encode()  # ~12 kB, under the limit
    status, _ = raw_http(server.port, head, [chunk(text[:6000]), chunk(text[6000:]), b"0\r\n\r\n"])
    assert status == 200
    parts = [chunk(b" " * 4096)] * 5 + [b"0\r\n\r\n"]  # 20 kB with no Content-Length to check
    status, error = raw_http(server.port, head, parts)
    assert status == 413 and "over the limit of 16384 bytes" in error["error"]
    assert Client(port=server.port, model_name=MODEL).classify(["still up"])


def chunk(data: bytes) -> bytes:
    """One chunk of a Transfer-Encoding: chunked body."""
    return b"%x\r\n%s\r\n" % (len(data), data)


def test_unknown_model_path_and_method_are_json_errors(server):
    status, _, body = http(server.port, "POST", "/v1/models/other:predict", b'{"instances": ["a"]}')
    assert status == 404 and json.loads(body) == {"error": f"model 'other' is not served here; this server "
                                                           f"serves '{MODEL}'"}
    for method, path, expected_status in [("GET", "/v1/models/other", 404), ("GET", "/nowhere", 404),
                                          ("GET", f"/v1/models/{MODEL}:predict", 405), ("POST", "/healthz", 405)]:
        status, _, body = http(server.port, method, path, b"" if method == "POST" else None)
        assert status == expected_status and "error" in json.loads(body), (method, path)


def test_client_raises_service_error_with_status_and_message(server):
    with pytest.raises(ServiceError) as refused:
        Client(port=server.port, model_name="other").classify(["a"])
    assert refused.value.status == 404 and "not served here" in refused.value.message
    with pytest.raises(ServiceError) as too_many:
        Client(port=server.port, model_name=MODEL).classify(["a"] * 17)
    assert too_many.value.status == 413 and str(too_many.value).startswith("HTTP 413: 17 instances")
    listener = free_listener()
    unused_port = listener.getsockname()[1]
    listener.close()
    with pytest.raises(ServiceError) as unreachable:
        Client(port=unused_port, model_name=MODEL).classify(["a"])
    assert unreachable.value.status is None and "cannot reach" in str(unreachable.value)
    with pytest.raises(TypeError):
        Client(port=server.port, model_name=MODEL).classify("a single string")


def test_client_wait_gives_up_after_its_timeout_with_the_last_reason():
    listener = free_listener()
    unused_port = listener.getsockname()[1]
    listener.close()
    started = time.monotonic()
    with pytest.raises(ServiceError) as never_ready:
        Client(port=unused_port, model_name=MODEL, wait=0.6)
    assert time.monotonic() - started >= 0.6
    assert "was not ready within 0.6 s" in str(never_ready.value) and "cannot reach" in str(never_ready.value)


def test_served_connections_have_nagle_off():
    """`run`'s listening socket says TCP, so asyncio sets TCP_NODELAY on each connection: with Nagle on, every
    response on a kept-alive connection waited ~40 ms for the client's delayed ACK (56 ms instead of 12 ms per
    request, measured with http.client against the default model)."""
    from bertvino.infer.server import _listen
    listener = _listen("127.0.0.1", 0)

    async def scenario():
        accepted = asyncio.get_running_loop().create_future()

        def on_connection(reader, writer):
            accepted.set_result(writer.get_extra_info("socket").getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY))
            writer.close()

        server = await asyncio.start_server(on_connection, sock=listener)
        _, writer = await asyncio.open_connection(*listener.getsockname())
        nodelay = await accepted
        writer.close()
        server.close()
        await server.wait_closed()
        return nodelay

    assert asyncio.run(scenario()) != 0


def test_run_refuses_bad_options_and_a_taken_port(server, fp32_bundle):
    with pytest.raises(BertvinoError, match="^--max-batch-size must be > 0, not 0$"):
        ServeOptions(port=0, max_batch_size=0)
    with pytest.raises(BertvinoError, match="^--max-chars must be > 0, not -1$"):
        ServeOptions(limits=Limits(max_chars=-1))
    with pytest.raises(BertvinoError, match=f"^cannot listen on 127.0.0.1:{server.port}: "):
        run(load_bundle(fp32_bundle), ServeOptions(port=server.port))


# --- the other endpoints ----------------------------------------------------------------------------------------

def test_model_status_metadata_and_health(server, fp32_bundle):
    def get(path):
        status, _, body = http(server.port, "GET", path)
        return status, json.loads(body)

    assert get(f"/v1/models/{MODEL}") == (200, {"model_version_status": [
        {"version": "1", "state": "AVAILABLE", "status": {"error_code": "OK", "error_message": ""}}]})
    status, metadata = get(f"/v1/models/{MODEL}/metadata")
    bundle = load_bundle(fp32_bundle)
    assert status == 200 and metadata["model_spec"] == {"name": MODEL, "version": "1"}
    assert metadata["metadata"]["labels"] == list(bundle.labels)
    assert metadata["metadata"]["max_seq_length"] == bundle.max_seq_length == 32
    assert metadata["metadata"]["precision"] == "fp32"
    assert metadata["metadata"]["limits"] == {"max_body_bytes": 16384, "max_instances": 16, "max_chars": 2000,
                                              "max_in_flight": 128}
    assert metadata["metadata"]["timeouts"] == {"headers": 10, "body": 30, "keep_alive": 5, "shutdown": 30}
    assert get("/healthz") == (200, {"status": "ok"})
    assert get("/v2/health/live") == (200, {"live": True})
    assert get("/v2/health/ready") == (200, {"ready": True})
    assert get("/v1/models") == (200, {"models": [{"name": MODEL, "version": "1"}]})
    assert Client(port=server.port).metadata()["labels"] == ["negative", "positive"]


def test_status_says_loading_and_v2_ready_is_false_until_warm_up_ends(fp32_bundle, monkeypatch):
    """TF Serving's clients wait for AVAILABLE before they predict, so the status must not say it while predict
    would answer 503."""
    warm = threading.Event()
    real_warm_up = DynamicBatcher.warm_up

    async def slow_warm_up(self):
        while not warm.is_set():
            await asyncio.sleep(0.01)
        await real_warm_up(self)

    monkeypatch.setattr(DynamicBatcher, "warm_up", slow_warm_up)
    classifier = Classifier(load_bundle(fp32_bundle), performance_hint="THROUGHPUT")
    app = create_app(classifier, MODEL, LIMITS)

    def states():
        status, _, body = http(port, "GET", f"/v1/models/{MODEL}")
        assert status == 200
        return (json.loads(body)["model_version_status"][0]["state"], http(port, "GET", f"/v2/models/{MODEL}/ready")[0],
                http(port, "POST", f"/v1/models/{MODEL}:predict", b'{"instances": ["a"]}')[0])

    with serving(app, wait_until_ready=False) as port:
        assert states() == ("LOADING", 503, 503)
        warm.set()
        deadline = time.monotonic() + 60
        while not app.state.service.ready:
            assert time.monotonic() < deadline
            time.sleep(0.02)
        assert states() == ("AVAILABLE", 200, 200)


def test_metrics_count_requests_errors_latency_and_instances(server):
    """Counted as differences: earlier tests on the same server have already moved every counter."""
    before = metric_samples(server.port)
    http(server.port, "POST", f"/v1/models/{MODEL}:predict", b'{"instances": ["good", "bad"]}')
    http(server.port, "POST", f"/v1/models/{MODEL}:predict", b'{"instances": [1]}')
    after = metric_samples(server.port)

    def added(name, **labels):
        key = (name, tuple(sorted(labels.items())))
        return after[key] - before.get(key, 0)

    assert added("bertvino_requests_total", endpoint="predict", status="200") == 1
    assert added("bertvino_requests_total", endpoint="predict", status="400") == 1
    assert added("bertvino_errors_total", endpoint="predict", reason="bad_instance") == 1
    assert added("bertvino_request_duration_seconds_count", endpoint="predict") == 2
    assert added("bertvino_instances_total") == 2  # the refused request classified nothing
    assert added("bertvino_queue_wait_seconds_count") == 2  # one per text
    assert added("bertvino_inference_duration_seconds_count") == 1  # one batch: both texts arrived together
    assert after[("bertvino_instances_in_progress", ())] == 0
    assert after[("bertvino_requests_in_flight", ())] == 0
    assert after[("bertvino_ready", ())] == 1


def test_openapi_describes_every_endpoint(server):
    status, _, body = http(server.port, "GET", "/openapi.json")
    spec = json.loads(body)
    assert status == 200 and spec["openapi"].startswith("3.1")
    v2_model = ("/v2/models/{name}", "/v2/models/{name}/versions/{version}")
    v1_model = ("/v1/models/{name}", "/v1/models/{name}/versions/{version}")
    assert set(spec["paths"]) == {*(f"{path}{suffix}" for path in v1_model for suffix in (":predict", "", "/metadata")),
                                  "/v1/models", "/healthz", "/v2/health/live", "/v2/health/ready", "/metrics",
                                  "/openapi.json", "/v1/models/{name}:explain", "/", "/v2", *v2_model,
                                  *(f"{path}/ready" for path in v2_model), *(f"{path}/infer" for path in v2_model)}
    assert set(spec["paths"]["/v1/models/{name}:predict"]["post"]["responses"]) >= {"200", "400", "404", "413"}


def test_openapi_is_valid(server):
    validator = pytest.importorskip("openapi_spec_validator")
    validator.validate(json.loads(http(server.port, "GET", "/openapi.json")[2]))


def test_fuzzing_the_openapi_document_finds_no_5xx_and_no_undeclared_response(server):
    """Every operation of the served document, TF Serving's and the Open Inference Protocol's, with requests
    generated from its schemas by schemathesis: no 5xx, and every answer's status, content type and body as
    declared. (A loop over the operations rather than schemathesis's pytest plugin, whose lazy fixture loader
    does not run under this pytest.)"""
    schema = schemathesis.openapi.from_url(f"http://127.0.0.1:{server.port}/openapi.json")
    checks = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]
    operations = [result.ok() for result in schema.get_all_operations()]
    document = json.loads(http(server.port, "GET", "/openapi.json")[2])
    # every operation but the document itself, which schemathesis leaves out of a schema it loaded from there
    assert {operation.path for operation in operations} == set(document["paths"]) - {"/openapi.json"}

    for operation in operations:
        @given(case=operation.as_strategy().map(served_model_and_consistent_shape))
        @settings(max_examples=20, deadline=None, database=None, suppress_health_check=list(HealthCheck))
        def fuzz(case):
            case.call_and_validate(checks=checks)
        fuzz()


def served_model_and_consistent_shape(case):
    """A generated case aimed past the two checks random data almost never passes: the served model's name and
    version (an unknown one is a 404, tested above) and, for an infer body, a shape that agrees with its data
    (which a JSON schema cannot say)."""
    if "name" in (case.path_parameters or {}):
        case.path_parameters["name"] = MODEL
    if "version" in (case.path_parameters or {}):
        case.path_parameters["version"] = "1"
    body = case.body if isinstance(case.body, dict) else {}
    for tensor in body.get("inputs") or []:
        if isinstance(tensor, dict) and isinstance(tensor.get("data"), list) and tensor["data"]:
            tensor["shape"] = [len(tensor["data"])]
    return case


# --- imports and shutdown ----------------------------------------------------------------------------------------

def test_client_imports_no_openvino():
    code = "import bertvino.client, sys; assert 'openvino' not in sys.modules and 'numpy' not in sys.modules"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr


from slowed import SLOWED_BATCHES  # noqa: E402  (tests/slowed.py: every batch's start slowed by argv[2] seconds)

# The server in its own process, as `bertvino serve` runs it, with each batch's start slowed down by argv[2]
# seconds so that requests are still queued when SIGTERM arrives; argv[3] holds more ServeOptions as JSON.
# It reports at exit whether TensorFlow was ever imported.
SLOW_SERVER = SLOWED_BATCHES + """import json
from bertvino.core.bundle import load_bundle
from bertvino.infer.server import ServeOptions, run
run(load_bundle(sys.argv[1]), ServeOptions(port=0, model_name="tiny", log_level="warning", **json.loads(sys.argv[3])))
print("tensorflow imported:", "tensorflow" in sys.modules)
"""


def test_sigterm_finishes_in_flight_requests_then_exits_0(fp32_bundle, tmp_path):
    log = tmp_path / "server.log"
    with open(log, "w") as stderr:
        process = subprocess.Popen([sys.executable, "-c", SLOW_SERVER, str(fp32_bundle), "0.25",
                                    '{"max_batch_size": 1}'], stdout=subprocess.PIPE, stderr=stderr, text=True)
    try:
        port = wait_for_port(process, log)
        results = []
        requests = [threading.Thread(target=lambda text=text: results.append(classify_or_error(port, text)))
                    for text in TEXTS[:6]]
        for request in requests:
            request.start()
        deadline = time.monotonic() + 30
        while (waiting := accepted_and_waiting(port))[0] < 6:
            assert time.monotonic() < deadline, log.read_text()
            time.sleep(0.02)
        assert waiting[1] >= 2, "the requests finished before SIGTERM: nothing left to drain"
        process.send_signal(signal.SIGTERM)
        for request in requests:
            request.join(timeout=30)
        assert results == ["ok"] * 6, results  # ~1.5 s of queued batches, all answered
        stdout, _ = process.communicate(timeout=30)
        assert process.returncode == 0, log.read_text()
        assert "tensorflow imported: False" in stdout
        with pytest.raises(ServiceError):
            Client(port=port, model_name=MODEL, timeout=5).classify(["after shutdown"])
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


def accepted_and_waiting(port: int) -> tuple:
    """(texts the server has accepted, texts still waiting for their answer)."""
    samples = metric_samples(port)
    waiting = samples[("bertvino_instances_in_progress", ())]
    return samples[("bertvino_instances_total", ())] + waiting, waiting


def wait_for_port(process, log) -> int:
    """The port from the server's "serving model ... on http://127.0.0.1:PORT" line."""
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        assert process.poll() is None, log.read_text()
        for line in log.read_text().splitlines():
            if line.startswith("bertvino serve: serving model") and " on http://127.0.0.1:" in line:
                return int(line.split(" on http://127.0.0.1:")[1].split()[0])
        time.sleep(0.05)
    raise AssertionError(f"the server did not start: {log.read_text()}")


def classify_or_error(port: int, text: str) -> str:
    try:
        Client(port=port, model_name=MODEL).classify([text])
        return "ok"
    except ServiceError as err:
        return str(err)


