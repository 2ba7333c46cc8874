"""`bertvino serve` speaks the Open Inference Protocol (KServe v2) over REST and gRPC, checked with Triton's own
clients (tritonclient), which nobody here wrote: status, metadata, and answers equal to `classify --json`'s, over
plain HTTP/gRPC and over TLS with an API key; texts from TF Serving, v2 REST and gRPC requests share batches;
refusals are the protocol's; the generated gRPC modules match the .proto.

Each configuration is one `bertvino serve` process, started as a user starts it (module-scoped, so two servers
for the whole file). tritonclient.grpc and bertvino's generated messages define the same protobuf names; they
share this process because bertvino's messages live in a descriptor pool of their own (tests/grpc_codegen.py).
"""

import datetime
import http.client
import ipaddress
import json
import signal
import ssl
import subprocess
import sys
import threading
import time
from pathlib import Path
from types import SimpleNamespace

import gevent.ssl
import numpy as np
import pytest
import tritonclient.grpc as triton_grpc
import tritonclient.http as triton_http
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from prometheus_client.parser import text_string_to_metric_families
from tritonclient.utils import InferenceServerException

import grpc_codegen  # tests/grpc_codegen.py
from slowed import SLOWED_BATCHES  # tests/slowed.py
from bertvino.infer import grpc_inference  # noqa: F401  (the generated messages, next to tritonclient's)

MODEL = "tiny"
KEY = "test-key-0123456789"
TEXTS = ["the movie was good and brilliant", "awful , boring and dull !", "it was a film"]


def self_signed(directory: Path) -> tuple:
    """(certificate, key) PEM files for localhost and 127.0.0.1, made with `cryptography`."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = datetime.datetime.now(datetime.timezone.utc)
    certificate = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
                   .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(minutes=5))
                   .not_valid_after(now + datetime.timedelta(days=1))
                   .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost"),
                                                               x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                                  critical=False)
                   .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
                   .sign(key, hashes.SHA256()))
    cert_file, key_file = directory / "cert.pem", directory / "key.pem"
    cert_file.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_file, key_file


@pytest.fixture(scope="module", params=["plain", "tls+key"])
def served(request, fp32_bundle, tmp_path_factory):
    """`bertvino serve` with REST and gRPC, plain or with TLS and an API key (from a file), and a 300 ms batching
    window so that concurrent requests surely meet in one batch."""
    directory = tmp_path_factory.mktemp("serve")
    secure = request.param == "tls+key"
    flags = []
    cert = None
    if secure:
        cert, key = self_signed(directory)
        (directory / "api.key").write_text(KEY + "\n")
        flags = ["--ssl-certfile", str(cert), "--ssl-keyfile", str(key), "--api-key-file", str(directory / "api.key")]
    log = directory / "server.log"
    with open(log, "w") as stderr:
        process = subprocess.Popen([sys.executable, "-m", "bertvino", "serve", "-m", str(fp32_bundle), "--model-name",
                                    MODEL, "--port", "0", "--grpc-port", "0", "--max-wait-ms", "300",
                                    "--max-instances", "8", *flags],
                                   stderr=stderr, cwd=directory)
    try:
        http_port, grpc_port = ports_from_log(process, log)
        yield SimpleNamespace(http_port=http_port, grpc_port=grpc_port, secure=secure, cert=cert)
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=60) == 0, log.read_text()
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


def ports_from_log(process, log: Path) -> tuple:
    """(REST port, gRPC port) from "serving model 'tiny' on http(s)://127.0.0.1:P and gRPC on 127.0.0.1:G"."""
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        assert process.poll() is None, log.read_text()
        for line in log.read_text().splitlines():
            if line.startswith("bertvino serve: serving model") and " and gRPC on 127.0.0.1:" in line:
                rest = line.split("://127.0.0.1:")[1].split()[0]
                return int(rest), int(line.split(" and gRPC on 127.0.0.1:")[1].split()[0])
        time.sleep(0.05)
    raise AssertionError(f"the server did not start: {log.read_text()}")


@pytest.fixture(scope="module")
def expected(fp32_bundle):
    """`bertvino classify --json`'s answer for each text."""
    result = subprocess.run([sys.executable, "-m", "bertvino", "classify", "-m", str(fp32_bundle), "--json", *TEXTS],
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    return [json.loads(line) for line in result.stdout.splitlines()]


def auth(served) -> dict:
    """The request headers with the key when the server needs it: a new dict each time, since tritonclient.http
    adds its own headers to the dict it is given."""
    return {"authorization": f"Bearer {KEY}"} if served.secure else {}


def http_client(served) -> triton_http.InferenceServerClient:
    if not served.secure:
        return triton_http.InferenceServerClient(f"127.0.0.1:{served.http_port}")
    return triton_http.InferenceServerClient(
        f"localhost:{served.http_port}", ssl=True,
        ssl_context_factory=lambda: gevent.ssl.create_default_context(cafile=str(served.cert)))


def grpc_client(served) -> triton_grpc.InferenceServerClient:
    if not served.secure:
        return triton_grpc.InferenceServerClient(f"127.0.0.1:{served.grpc_port}")
    return triton_grpc.InferenceServerClient(f"localhost:{served.grpc_port}", ssl=True,
                                             root_certificates=str(served.cert))


def rest(served, method: str, path: str, body: bytes = None, headers: dict = None) -> tuple:
    """(status, headers, body) of one request, with the key when the server needs one, unless `headers` say."""
    if served.secure:
        connection = http.client.HTTPSConnection("localhost", served.http_port, timeout=30,
                                                 context=ssl.create_default_context(cafile=str(served.cert)))
    else:
        connection = http.client.HTTPConnection("127.0.0.1", served.http_port, timeout=30)
    try:
        connection.request(method, path, body=body, headers=auth(served) if headers is None else headers)
        response = connection.getresponse()
        return response.status, dict(response.getheaders()), response.read()
    finally:
        connection.close()


def assert_answers(labels, probabilities, expected):
    assert [label.decode() if isinstance(label, bytes) else label for label in labels] == \
        [answer["label"] for answer in expected]
    want = np.array([list(answer["probabilities"].values()) for answer in expected])
    assert probabilities.shape == want.shape
    np.testing.assert_allclose(probabilities, want, atol=1e-5)


def texts_input(module, shape=(3,), binary=None, texts=TEXTS):
    tensor = module.InferInput("text", list(shape), "BYTES")
    data = np.array([text.encode() for text in texts], dtype=object).reshape(shape)
    tensor.set_data_from_numpy(data, **({} if binary is None else {"binary_data": binary}))
    return tensor


# --- tritonclient.http ---------------------------------------------------------------------------------------------

def test_http_client_sees_a_live_ready_server_and_the_models_metadata(served, fp32_bundle):
    client = http_client(served)
    assert client.is_server_live() and client.is_server_ready()  # health: no key needed
    assert client.is_model_ready(MODEL, headers=auth(served))
    assert client.is_model_ready(MODEL, "1", headers=auth(served))
    assert client.get_server_metadata(headers=auth(served))["extensions"] == ["binary_tensor_data"]
    assert client.get_model_metadata(MODEL, headers=auth(served)) == {
        "name": MODEL, "versions": ["1"], "platform": "openvino",
        "inputs": [{"name": "text", "datatype": "BYTES", "shape": [-1]}],
        "outputs": [{"name": "label", "datatype": "BYTES", "shape": [-1]},
                    {"name": "probabilities", "datatype": "FP32", "shape": [-1, 2]}]}


@pytest.mark.parametrize("binary", [None, False], ids=["client-default-binary", "json"])
@pytest.mark.parametrize("shape", [(3,), (3, 1)], ids=["[n]", "[n,1]"])
def test_http_client_infer_returns_classifys_answers(served, expected, binary, shape):
    outputs = None if binary is None else [triton_http.InferRequestedOutput(name, binary_data=False)
                                           for name in ("label", "probabilities")]
    result = http_client(served).infer(MODEL, [texts_input(triton_http, shape, binary)], outputs=outputs,
                                       request_id="req-1", headers=auth(served))
    assert result.get_response()["id"] == "req-1"
    assert_answers(result.as_numpy("label"), result.as_numpy("probabilities"), expected)


# --- tritonclient.grpc ---------------------------------------------------------------------------------------------

def test_grpc_client_sees_a_live_ready_server_and_the_models_metadata(served):
    client = grpc_client(served)
    assert client.is_server_live() and client.is_server_ready()
    assert client.is_model_ready(MODEL, headers=auth(served))
    assert client.get_server_metadata(headers=auth(served), as_json=True)["extensions"] == ["binary_tensor_data"]
    metadata = client.get_model_metadata(MODEL, headers=auth(served), as_json=True)
    assert metadata["versions"] == ["1"] and metadata["inputs"] == [{"name": "text", "datatype": "BYTES",
                                                                     "shape": ["-1"]}]
    assert [(o["name"], o["datatype"], o["shape"]) for o in metadata["outputs"]] == [
        ("label", "BYTES", ["-1"]), ("probabilities", "FP32", ["-1", "2"])]


@pytest.mark.parametrize("shape", [(3,), (3, 1)], ids=["[n]", "[n,1]"])
def test_grpc_client_infer_returns_classifys_answers(served, expected, shape):
    result = grpc_client(served).infer(MODEL, [texts_input(triton_grpc, shape)], request_id="req-2",
                                       headers=auth(served))
    assert result.get_response().id == "req-2"
    assert_answers(result.as_numpy("label"), result.as_numpy("probabilities"), expected)


# --- one batcher for every protocol ------------------------------------------------------------------------------

def test_tf_serving_v2_rest_and_grpc_requests_share_batches(served, expected):
    before = batches_over_two(served)
    barrier = threading.Barrier(3)
    answers = [None] * 3

    def tf_serving():
        barrier.wait()
        status, _, body = rest(served, "POST", f"/v1/models/{MODEL}:predict", json.dumps({"instances": TEXTS[:1]}))
        answers[0] = json.loads(body)["predictions"][0] if status == 200 else status

    def v2_rest():
        client = http_client(served)
        barrier.wait()
        answers[1] = client.infer(MODEL, [texts_input(triton_http, (1,), texts=TEXTS[1:2])], headers=auth(served))

    def v2_grpc():
        client = grpc_client(served)
        barrier.wait()
        answers[2] = client.infer(MODEL, [texts_input(triton_grpc, (1,), texts=TEXTS[2:])], headers=auth(served))

    threads = [threading.Thread(target=call) for call in (tf_serving, v2_rest, v2_grpc)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert answers[0]["label"] == expected[0]["label"]
    for answer, want in zip(answers[1:], expected[1:]):
        assert_answers(answer.as_numpy("label"), answer.as_numpy("probabilities"), [want])
    assert batches_over_two(served) - before == 1  # the three texts, one per protocol, in one batch


def batches_over_two(served) -> float:
    status, _, body = rest(served, "GET", "/metrics")
    assert status == 200
    samples = {(s.name, tuple(sorted(s.labels.items()))): s.value
               for family in text_string_to_metric_families(body.decode()) for s in family.samples}
    return samples[("bertvino_batch_size_count", ())] - samples[("bertvino_batch_size_bucket", (("le", "2.0"),))]


# --- keys ----------------------------------------------------------------------------------------------------------

def test_the_api_key_is_required_except_on_health_checks(served):
    needs_key = served.secure
    for path in ("/healthz", "/v2/health/live", "/v2/health/ready", "/"):  # "/": the page, which asks for the key
        assert rest(served, "GET", path, headers={})[0] == 200, path
    explain = rest(served, "POST", f"/v1/models/{MODEL}:explain", json.dumps({"instances": ["fine"]}).encode(), {})
    assert explain[0] == (401 if needs_key else 200)
    for path in (f"/v1/models/{MODEL}", f"/v2/models/{MODEL}", "/v2", "/metrics", "/openapi.json"):
        for headers in ({}, {"authorization": "Bearer wrong-key"}, {"authorization": KEY}):
            status, response_headers, body = rest(served, "GET", path, headers=headers)
            assert status == (401 if needs_key else 200), (path, headers)
            if needs_key:
                assert json.loads(body) == {"error": "this service needs its API key: send the header "
                                                     "Authorization: Bearer KEY"}
                assert response_headers["www-authenticate"] == "Bearer"
        assert rest(served, "GET", path, headers={"Authorization": f"bearer {KEY}"})[0] == 200, path
    client = grpc_client(served)
    assert client.is_server_live() and client.is_server_ready()
    for headers in (None, {"authorization": "Bearer wrong-key"}):
        if needs_key:
            with pytest.raises(InferenceServerException, match="UNAUTHENTICATED"):
                client.is_model_ready(MODEL, headers=headers)
            with pytest.raises(InferenceServerException, match="UNAUTHENTICATED"):
                client.infer(MODEL, [texts_input(triton_grpc)], headers=headers)
        else:
            assert client.is_model_ready(MODEL, headers=headers)


# --- refusals ------------------------------------------------------------------------------------------------------

def v2_body(data, shape=None, **more) -> bytes:
    return json.dumps({"inputs": [{"name": "text", "datatype": "BYTES", "shape": shape or [len(data)],
                                   "data": data}], **more}).encode()


BAD_V2_REQUESTS = [
    (b"not json", 400, "the body is not valid JSON"),
    (b"[]", 400, "the body must be a JSON object"),
    (b"{}", 400, '"inputs" must be a list of one tensor'),
    (json.dumps({"inputs": [{"name": "words", "datatype": "BYTES", "shape": [1], "data": ["a"]}]}).encode(), 400,
     "unknown input 'words'"),
    (json.dumps({"inputs": [{"name": "text", "datatype": "FP32", "shape": [1], "data": [1.0]}]}).encode(), 400,
     "must have datatype BYTES, not 'FP32'"),
    (v2_body(["a", "b"], shape=[2, 2]), 400, "must have shape [n] or [n, 1], not [2, 2]"),
    (v2_body(["a", "b"], shape=[3]), 400, "has shape [3] but 2 elements"),
    (v2_body(["fine", " "]), 400, "text[1] is only whitespace"),
    (v2_body(["fine", 7]), 400, "text[1] is not a string but a number"),
    (v2_body(["a"] * 9), 413, "9 texts in one request is over the limit of 8"),
    (v2_body(["a"], outputs=[{"name": "logits"}]), 400, "unknown output 'logits'"),
    (v2_body(["a"], id=5), 400, '"id" must be a string, not a number'),
]


@pytest.mark.parametrize("body, status, message", BAD_V2_REQUESTS, ids=[m for _, _, m in BAD_V2_REQUESTS])
def test_bad_v2_requests_are_refused_with_one_line(served, body, status, message):
    got_status, headers, got_body = rest(served, "POST", f"/v2/models/{MODEL}/infer", body)
    assert (got_status, headers["content-type"]) == (status, "application/json")
    error = json.loads(got_body)
    assert list(error) == ["error"] and message in error["error"] and "\n" not in error["error"]


def test_binary_tensor_data_that_lies_about_its_size_is_refused(served):
    header = json.dumps({"inputs": [{"name": "text", "datatype": "BYTES", "shape": [2],
                                     "parameters": {"binary_data_size": 9}}]}).encode()
    element = b"\x05\x00\x00\x00hello"  # one element of five bytes, where two were declared
    status, _, body = rest(served, "POST", f"/v2/models/{MODEL}/infer", header + element,
                           headers={**auth(served), "Inference-Header-Content-Length": str(len(header))})
    assert status == 400 and "ends before element 1 of 2" in json.loads(body)["error"]


def test_unknown_models_and_versions_are_404_over_rest_and_not_found_over_grpc(served):
    for path in ("/v2/models/other", f"/v2/models/{MODEL}/versions/2", f"/v2/models/{MODEL}/versions/2/ready"):
        status, _, body = rest(served, "GET", path)
        assert status == 404 and "error" in json.loads(body), path
    client = grpc_client(served)
    with pytest.raises(InferenceServerException, match="NOT_FOUND.*model 'other' is not served here"):
        client.infer("other", [texts_input(triton_grpc)], headers=auth(served))
    with pytest.raises(InferenceServerException, match="NOT_FOUND.*has no version '2'"):
        client.get_model_metadata(MODEL, "2", headers=auth(served))


def test_bad_grpc_requests_get_the_protocols_codes_and_the_same_words(served):
    client = grpc_client(served)
    with pytest.raises(InferenceServerException, match="INVALID_ARGUMENT.*text\\[1\\] is empty"):
        client.infer(MODEL, [texts_input(triton_grpc, (2,), texts=["fine", ""])], headers=auth(served))
    with pytest.raises(InferenceServerException, match="RESOURCE_EXHAUSTED.*9 texts in one request"):
        client.infer(MODEL, [texts_input(triton_grpc, (9,), texts=["a"] * 9)], headers=auth(served))
    wrong = triton_grpc.InferInput("words", [1], "BYTES")
    wrong.set_data_from_numpy(np.array([b"a"], dtype=object))
    with pytest.raises(InferenceServerException, match="INVALID_ARGUMENT.*unknown input 'words'"):
        client.infer(MODEL, [wrong], headers=auth(served))
    assert client.is_server_ready()  # and the service is still up


# --- the generated gRPC modules ------------------------------------------------------------------------------------

def test_the_committed_grpc_modules_are_what_the_proto_generates():
    for name, text in grpc_codegen.generate().items():
        assert (grpc_codegen.INFER / name).read_text() == text, f"{name} is stale: run python tests/grpc_codegen.py"


def test_bertvinos_own_client_takes_the_key_and_tls(served, expected):
    from bertvino.client import Client, ServiceError
    context = ssl.create_default_context(cafile=str(served.cert)) if served.secure else None
    host = "localhost" if served.secure else "127.0.0.1"
    client = Client(host, served.http_port, MODEL, api_key=KEY, ssl_context=context)
    assert [answer["label"] for answer in client.classify(TEXTS)] == [answer["label"] for answer in expected]
    if served.secure:
        with pytest.raises(ServiceError) as refused:
            Client(host, served.http_port, MODEL, ssl_context=context).classify(TEXTS)
        assert refused.value.status == 401


# --- SIGTERM drains gRPC too ---------------------------------------------------------------------------------------

# `bertvino serve --grpc-port 0` in its own process with each batch's start slowed down by argv[2] seconds, so that
# gRPC calls are still queued when SIGTERM arrives.
SLOW_GRPC_SERVER = SLOWED_BATCHES + """
from bertvino.cli import main
sys.exit(main(["serve", "-m", sys.argv[1], "--model-name", "tiny", "--port", "0", "--grpc-port", "0",
               "--max-batch-size", "1"]))
"""


def test_sigterm_answers_the_grpc_calls_in_flight_then_exits_0(fp32_bundle, tmp_path):
    log = tmp_path / "server.log"
    with open(log, "w") as stderr:
        process = subprocess.Popen([sys.executable, "-c", SLOW_GRPC_SERVER, str(fp32_bundle), "0.3"], stderr=stderr)
    try:
        http_port, grpc_port = ports_from_log(process, log)
        served = SimpleNamespace(http_port=http_port, grpc_port=grpc_port, secure=False, cert=None)
        results = []

        def call(text):
            try:
                grpc_client(served).infer(MODEL, [texts_input(triton_grpc, (1,), texts=[text])])
                results.append("ok")
            except InferenceServerException as err:
                results.append(str(err))

        calls = [threading.Thread(target=call, args=(text,)) for text in TEXTS * 2]
        for thread in calls:
            thread.start()
        deadline = time.monotonic() + 30
        while (texts := accepted_and_waiting(served))[0] < 6:  # every call accepted (later ones are refused)
            assert time.monotonic() < deadline, log.read_text()
            time.sleep(0.02)
        assert texts[1] >= 2, "the calls finished before SIGTERM: nothing left to drain"
        process.send_signal(signal.SIGTERM)
        for thread in calls:
            thread.join(timeout=60)
        assert results == ["ok"] * 6, results
        assert process.wait(timeout=60) == 0, log.read_text()
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


def accepted_and_waiting(served) -> tuple:
    """(texts the server has accepted, texts still waiting for their answer)."""
    status, _, body = rest(served, "GET", "/metrics")
    samples = {s.name: s.value for family in text_string_to_metric_families(body.decode()) for s in family.samples}
    waiting = samples["bertvino_instances_in_progress"]
    return samples["bertvino_instances_total"] + waiting, waiting
