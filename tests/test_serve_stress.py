"""`bertvino serve` under stress, on loopback with the tiny model, each test bounded in time: 64 concurrent clients,
100 slow clients beside normal ones, a burst over the in-flight cap, warm-up before readiness, and SIGTERM under
load."""

import json
import signal
import socket
import subprocess
import sys
import threading
import time

import pytest

pytest.importorskip("starlette")
pytest.importorskip("uvicorn")
pytest.importorskip("prometheus_client")

from test_serve import (MODEL, SLOW_SERVER, TEXTS, accepted_and_waiting, assert_same, concurrently, http,  # noqa
                        metric_samples, serving, wait_for_port)

from bertvino.core.bundle import load_bundle  # noqa: E402
from bertvino.client import Client, ServiceError  # noqa: E402
from bertvino.infer.classifier import AsyncBatches, Classifier  # noqa: E402
from bertvino.infer.server import Limits, Timeouts, create_app  # noqa: E402

PREDICT = f"/v1/models/{MODEL}:predict"


@pytest.fixture(scope="module")
def classifier(fp32_bundle):
    return Classifier(load_bundle(fp32_bundle), performance_hint="THROUGHPUT")


@pytest.fixture
def slow_batches(monkeypatch):
    """Each batch (warm-up's too) waits this many seconds before it starts on OpenVINO: set `.seconds`."""
    real_submit = AsyncBatches.submit
    delay = type("Delay", (), {"seconds": 0.0})()

    def submit(self, id_lists, userdata):
        time.sleep(delay.seconds)
        real_submit(self, id_lists, userdata)

    monkeypatch.setattr(AsyncBatches, "submit", submit)
    return delay


def test_64_concurrent_clients_all_get_their_answers(classifier):
    expected = {text: classifier.predict([text])[0] for text in TEXTS}
    app = create_app(classifier, MODEL, max_batch_size=16, max_wait_ms=5)
    texts = [TEXTS[i % len(TEXTS)] for i in range(64)]
    with serving(app) as port:
        client = Client(port=port, model_name=MODEL, timeout=30)
        answers = concurrently(lambda text: client.classify([text]), texts)
        samples = metric_samples(port)
    for text, answer in zip(texts, answers):
        assert not isinstance(answer, Exception), answer
        assert_same(answer[0], expected[text])
    assert samples[("bertvino_requests_total", (("endpoint", "predict"), ("status", "200")))] == 64


def test_100_slow_clients_do_not_starve_the_others(classifier):
    """50 clients send their headers a byte at a time, 50 their bodies; normal requests meanwhile are answered
    within a second, and every slow client is cut off at its deadline."""
    timeouts = Timeouts(headers=1.5, body=1.5, keep_alive=5, shutdown=10)
    app = create_app(classifier, MODEL, timeouts=timeouts)
    head = f"POST {PREDICT} HTTP/1.1\r\nHost: test\r\nContent-Type: application/json\r\n".encode()
    with serving(app, timeouts) as port:
        slow_heads = [socket.create_connection(("127.0.0.1", port), timeout=10) for _ in range(50)]
        slow_bodies = [socket.create_connection(("127.0.0.1", port), timeout=10) for _ in range(50)]
        for connection in slow_bodies:
            connection.sendall(head + b"Content-Length: 1000\r\n\r\n")
        trickling = threading.Event()
        trickler = threading.Thread(target=trickle, args=(slow_heads + slow_bodies, trickling))
        trickler.start()
        try:
            client = Client(port=port, model_name=MODEL, timeout=5)
            for text in TEXTS:  # about 2.5 s of normal requests while the slow ones hold their connections
                started = time.monotonic()
                assert client.classify([text])[0]["label"]
                assert time.monotonic() - started < 1.0, "a normal request waited behind the slow clients"
                time.sleep(0.2)
        finally:
            trickling.set()
            trickler.join()
        for connection in slow_heads + slow_bodies:
            assert closed_by_server(connection), "a slow client outlived its deadline"
        samples = metric_samples(port)
    assert samples[("bertvino_errors_total", (("endpoint", "predict"), ("reason", "body_timeout")))] == 50


def test_idle_connections_are_closed_at_their_deadlines(classifier):
    """A connection that never sends a request is closed after the header deadline, one kept alive after a
    response after the keep-alive deadline."""
    timeouts = Timeouts(headers=1.0, body=5, keep_alive=0.5, shutdown=10)
    with serving(create_app(classifier, MODEL, timeouts=timeouts), timeouts) as port:
        silent = socket.create_connection(("127.0.0.1", port), timeout=10)
        kept_alive = socket.create_connection(("127.0.0.1", port), timeout=10)
        started = time.monotonic()
        kept_alive.sendall(b"GET /v2/health/live HTTP/1.1\r\nHost: test\r\n\r\n")
        assert kept_alive.recv(65536).startswith(b"HTTP/1.1 200 ")
        assert closed_by_server(kept_alive)
        kept_alive_for = time.monotonic() - started
        assert closed_by_server(silent)
        silent_for = time.monotonic() - started
        assert 0.45 < kept_alive_for < silent_for and 0.95 < silent_for < 5  # no sooner than due, nor much later


def trickle(connections, stop: threading.Event):
    """One byte on every connection every 0.2 s until `stop`: always part of a header line or of the body."""
    while not stop.wait(0.2):
        for connection in connections:
            try:
                connection.send(b"x")
            except OSError:  # closed by the server: its deadline passed
                pass


def closed_by_server(connection: socket.socket) -> bool:
    """True when the server has closed the connection (after a 408, or without an answer)."""
    connection.settimeout(5)
    try:
        while True:
            data = connection.recv(65536)
            if not data:
                return True
            if b" 408 " in data.split(b"\r\n")[0]:
                return True
    except ConnectionResetError:
        return True
    except TimeoutError:
        return False
    finally:
        connection.close()


def test_a_burst_over_the_cap_gets_503_with_retry_after_then_service_resumes(classifier, slow_batches):
    slow_batches.seconds = 0.1
    app = create_app(classifier, MODEL, Limits(max_in_flight=4), max_batch_size=1, max_wait_ms=0)
    body = json.dumps({"instances": ["a burst"]}).encode()
    with serving(app) as port:
        def post(_):
            started = time.monotonic()
            status, headers, answer = http(port, "POST", PREDICT, body)
            return status, headers.get("retry-after") or headers.get("Retry-After"), json.loads(answer), \
                time.monotonic() - started

        answers = concurrently(post, range(24))
        refused = [answer for answer in answers if answer[0] == 503]
        served = [answer for answer in answers if answer[0] == 200]
        assert len(refused) + len(served) == 24, answers
        assert 4 <= len(served) and len(refused) >= 12, answers
        for _, retry_after, error, seconds in refused:
            assert retry_after == "1" and "limit of 4 requests in flight" in error["error"]
            assert seconds < 1.0, "a refusal must come at once, not after a wait"
        client = Client(port=port, model_name=MODEL, timeout=10)
        for text in TEXTS[:4]:
            assert client.classify([text])[0]["label"]
        samples = metric_samples(port)
    assert samples[("bertvino_errors_total", (("endpoint", "predict"), ("reason", "overloaded")))] == len(refused)
    assert samples[("bertvino_requests_in_flight", ())] == 0


def test_readiness_waits_for_warm_up_while_liveness_answers(classifier, slow_batches):
    slow_batches.seconds = 0.3  # warm-up: 2 length buckets x the infer requests, 0.3 s each
    app = create_app(classifier, MODEL)
    with serving(app, wait_until_ready=False) as port:
        assert http(port, "GET", "/v2/health/live")[0] == 200
        status, headers, body = http(port, "GET", "/v2/health/ready")
        assert (status, json.loads(body), headers["retry-after"]) == (503, {"ready": False}, "1")
        status, headers, body = http(port, "POST", PREDICT, b'{"instances": ["too early"]}')
        assert status == 503 and "warming up" in json.loads(body)["error"] and headers["retry-after"] == "1"
        with pytest.raises(ServiceError) as refused:
            Client(port=port, model_name=MODEL).classify(["too early"])
        assert (refused.value.status, refused.value.retry_after) == (503, 1.0)
        deadline = time.monotonic() + 30
        while http(port, "GET", "/v2/health/ready")[0] != 200:
            assert time.monotonic() < deadline, "warm-up did not finish"
            time.sleep(0.05)
        assert http(port, "POST", PREDICT, b'{"instances": ["now"]}')[0] == 200
        samples = metric_samples(port)
    assert samples[("bertvino_ready", ())] == 1
    assert samples[("bertvino_inference_duration_seconds_count", ())] == 1  # warm-up is not counted


def test_client_wait_returns_once_warm_up_is_over(classifier, slow_batches):
    slow_batches.seconds = 0.3
    app = create_app(classifier, MODEL)
    with serving(app, wait_until_ready=False) as port:
        assert http(port, "GET", "/v2/health/ready")[0] == 503
        started = time.monotonic()
        client = Client(port=port, model_name=MODEL, wait=30)
        assert http(port, "GET", "/v2/health/ready")[0] == 200 and time.monotonic() - started >= 0.3
        assert client.classify(["now"])[0]["label"]


def test_sigterm_under_load_fails_no_request_in_flight(fp32_bundle, tmp_path):
    """32 requests accepted and waiting, 8 clients still sending: after SIGTERM all 32 are answered, later ones are
    answered, refused with 503 or find nothing listening, and the process exits 0."""
    log = tmp_path / "server.log"
    with open(log, "w") as stderr:
        process = subprocess.Popen([sys.executable, "-c", SLOW_SERVER, str(fp32_bundle), "0.05",
                                    '{"max_batch_size": 2, "max_wait_ms": 0}'], stdout=subprocess.DEVNULL,
                                   stderr=stderr)
    try:
        port = wait_for_port(process, log)
        in_flight, background, stop = [], [], threading.Event()

        def hammer():
            client = Client(port=port, model_name=MODEL, timeout=30)
            while not stop.is_set():
                background.append(outcome(client))
                if background[-1] == "unreachable":
                    return

        requests = [threading.Thread(target=lambda: in_flight.append(outcome(Client(port=port, model_name=MODEL,
                                                                                    timeout=30))))
                    for _ in range(32)]
        for thread in requests:
            thread.start()
        deadline = time.monotonic() + 30
        while accepted_and_waiting(port)[0] < 32:  # all 32 accepted: from here on they are in flight
            assert time.monotonic() < deadline, log.read_text()
            time.sleep(0.01)
        load = [threading.Thread(target=hammer) for _ in range(8)]
        for thread in load:
            thread.start()
        time.sleep(0.2)
        assert accepted_and_waiting(port)[1] >= 8, "the requests finished before SIGTERM: nothing left to drain"
        process.send_signal(signal.SIGTERM)
        for thread in requests:
            thread.join(timeout=30)
        stop.set()
        for thread in load:
            thread.join(timeout=30)
        assert in_flight == ["ok"] * 32, in_flight
        assert set(background) <= {"ok", "503", "unreachable"}, background
        assert process.wait(timeout=30) == 0, log.read_text()
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


def outcome(client: Client) -> str:
    """ok, 503, unreachable (nothing listening, or the connection reset before it was accepted), or the error."""
    try:
        client.classify(["the movie was good and brilliant"])
        return "ok"
    except ServiceError as err:
        if err.status == 503:
            return "503"
        if err.status is None and ("cannot reach" in err.message or "reset" in err.message.lower()):
            return "unreachable"
        return str(err)
