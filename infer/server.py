"""`bertvino serve`: the classifier as an HTTP service, in TensorFlow Serving's REST shape with text in.

The endpoints, limits and status codes are documented in docs/serving.md (`:explain` and the page at / are
infer/explain_routes.py's: docs/explain.md). Why it is built this way:
Starlette + uvicorn rather than FastAPI, because a request is one JSON list validated by hand so that a message
can name the bad instance, and FastAPI would add pydantic without saving any code. Every error is a one-line
`{"error": "..."}` and leaves the service up. The in-flight cap counts requests whose bodies have arrived (a
request still being read has deadlines instead: `Timeouts`, and `infer/connections.py` for the headers), so a slow
client holds a socket, never a worker. Readiness turns true only after `DynamicBatcher.warm_up`; on SIGTERM it
turns false, uvicorn drains the requests in progress, and the lifespan closes the batcher. No TensorFlow here.

Beside TF Serving's API, the same app serves the Open Inference Protocol's REST routes (infer/open_inference.py),
`run` starts its gRPC service in the same event loop with --grpc-port (infer/grpc_inference.py), and an API key
and TLS guard both (infer/access.py); docs/serving-protocols.md describes them. What is served, one bundle or a
model repository's versions, is infer/repository.py's: every request goes through `Service.models.resolve`.
"""

import asyncio
import contextlib
import dataclasses
import ipaddress
import logging
import signal
import socket
import sys
import time
from pathlib import Path

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import ClientDisconnect
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from ..core.errors import BertvinoError
from . import explain_routes, open_inference
from .batcher import BatcherClosed, DynamicBatcher
from .connections import protocol_with_header_deadline
from .refusals import RETRY_AFTER_SECONDS, ApiError, come_back_later, parse_instances
from .repository import OneModel
from .serve_options import Limits, ServeOptions, Timeouts

log = logging.getLogger("bertvino.serve")

class Metrics:
    """The service's Prometheus metrics, in a registry of its own so that one process can hold several apps."""

    def __init__(self, max_batch_size: int):
        self.registry = CollectorRegistry()
        registry = self.registry
        self.requests = Counter("bertvino_requests", "HTTP requests answered, by endpoint and status code",
                                ["endpoint", "status"], registry=registry)
        self.errors = Counter("bertvino_errors", "Requests answered with an error, by endpoint and reason",
                              ["endpoint", "reason"], registry=registry)
        seconds = (.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30)
        self.latency = Histogram("bertvino_request_duration_seconds", "Time from request to response",
                                 ["endpoint"], registry=registry, buckets=seconds)
        self.queue_wait = Histogram("bertvino_queue_wait_seconds", "Time a text waited, tokenized, for its batch "
                                    "to start on OpenVINO", registry=registry, buckets=seconds)
        self.inference = Histogram("bertvino_inference_duration_seconds", "Time OpenVINO spent on one batch",
                                   registry=registry, buckets=seconds)
        self.batch_size = Histogram("bertvino_batch_size", "Texts per batch run on OpenVINO", registry=registry,
                                    buckets=_batch_buckets(max_batch_size))
        self.instances = Counter("bertvino_instances", "Texts classified", registry=registry)
        self.in_progress = Gauge("bertvino_instances_in_progress", "Texts accepted and not yet answered",
                                 registry=registry)
        self.requests_in_flight = Gauge("bertvino_requests_in_flight", "Predict requests past their body and not "
                                        "yet answered (capped by --max-in-flight)", registry=registry)
        self.ready = Gauge("bertvino_ready", "1 once warmed up and until shutdown begins, else 0", registry=registry)

    def batch_started(self, queue_waits: list):
        self.batch_size.observe(len(queue_waits))
        for seconds in queue_waits:
            self.queue_wait.observe(seconds)


def _batch_buckets(max_batch_size: int) -> tuple:
    """1, 2, 4, ... up to max_batch_size, which is always a bucket of its own."""
    buckets, size = [], 1
    while size < max_batch_size:
        buckets.append(size)
        size *= 2
    return (*buckets, max_batch_size)


class Service:
    """The endpoints, over the models of `self.models` (infer/repository.py): one classifier served under one name,
    or a model repository's versions, each with its own batcher."""

    def __init__(self, classifier, model_name: str, limits: Limits, timeouts: Timeouts, max_batch_size: int,
                 max_wait_ms: float, repository=None):
        self.limits = limits
        self.timeouts = timeouts
        self.metrics = Metrics(max_batch_size)
        self.max_batch_size, self.max_wait_ms = max_batch_size, max_wait_ms
        # repository(make_batcher) -> a Repository; without it, `classifier` as `model_name` version 1
        self.models = repository(self.make_batcher) if repository is not None \
            else OneModel(model_name, classifier, self.make_batcher)
        self.ready = False  # warmed up and not shutting down
        self.shutting_down = False
        self.in_flight = 0  # predict requests past their body and not yet answered

    def make_batcher(self, classifier) -> DynamicBatcher:
        """A batcher for one served version; every version's batches count in the same metrics."""
        return DynamicBatcher(classifier, max_batch_size=self.max_batch_size, max_wait_ms=self.max_wait_ms,
                              on_batch=self.metrics.batch_started, on_inference=self.metrics.inference.observe)

    def begin_shutdown(self):
        """SIGTERM: readiness off and new requests refused; those in progress go on."""
        self.shutting_down = True
        self.set_ready(False)

    def set_ready(self, ready: bool):
        self.ready = ready
        self.metrics.ready.set(1 if ready else 0)

    # --- endpoints: each returns a response or raises ApiError -----------------------------------------------

    async def predict(self, request):
        name, version = self._check_model(request)
        texts = await self.receive(request, lambda body: parse_instances(body, self.limits))
        _, predictions = await self.classify(texts, name, version)
        return JSONResponse({"predictions": [{"label": p.label, "probabilities": p.probabilities}
                                             for p in predictions]})

    async def receive(self, request, parse):
        """`parse(body)` of a request whose texts are to be classified: 503 before its body is read when the
        service cannot take it (an overloaded service does not read what it will refuse), and again after (others
        may have come in while the body arrived)."""
        self._admit()
        body = await self._read_body(request)
        self._check_capacity()
        return parse(body)

    async def classify(self, texts: list, name: str, version: str = "") -> tuple:
        """(the ServedVersion, [Prediction]) for checked texts from the batcher of `name` (`version`, else its
        newest), whatever protocol brought them."""
        return await self.batched(len(texts), name, version, lambda served: served.batcher.classify(texts))

    async def batched(self, texts: int, name: str, version: str, work) -> tuple:
        """(the ServedVersion, `work(served)`'s result): a call of the batcher of `name` (`version`, else its
        newest), counted as one request in flight of `texts` texts; 503 while warming up or at the cap. The version
        is chosen here, with no await before its batcher takes the texts, so a version being removed either gets
        them before it begins to drain, or is no longer chosen. Once shutdown has begun, texts still go to the
        batcher, which takes them until it closes: the request was admitted before, and drains."""
        if not self.ready and not self.shutting_down:
            raise come_back_later("the model is warming up", "not_ready")
        self._check_capacity()
        served = self.models.resolve(name, version)
        self.in_flight += 1
        self.metrics.requests_in_flight.inc()
        self.metrics.in_progress.inc(texts)
        try:
            result = await work(served)
        except BatcherClosed:
            raise come_back_later("the service is shutting down", "shutting_down") from None
        finally:
            self.in_flight -= 1
            self.metrics.requests_in_flight.dec()
            self.metrics.in_progress.dec(texts)
        self.metrics.instances.inc(texts)
        return served, result

    async def model_status(self, request):
        """TF Serving's states: LOADING until warm-up is over (predict answers 503 until then), AVAILABLE, then
        UNLOADING once shutdown begins; one entry per served version (a version still loading is not listed)."""
        name, version = self._check_model(request)
        state = "UNLOADING" if self.shutting_down else "AVAILABLE" if self.ready else "LOADING"
        served = [self.models.resolve(name, version)] if version else self.models.versions(name)
        return JSONResponse({"model_version_status": [
            {"version": s.version, "state": state, "status": {"error_code": "OK", "error_message": ""}}
            for s in served]})

    async def model_metadata(self, request):
        name, version = self._check_model(request)
        served = self.models.resolve(name, version)
        classifier, bundle = served.classifier, served.classifier.bundle
        return JSONResponse({
            "model_spec": {"name": served.name, "version": served.version},
            "metadata": {"labels": list(bundle.labels), "max_seq_length": bundle.max_seq_length,
                         "truncation": bundle.truncation, "long_texts": str(classifier.reading)
                         if bundle.long_texts != "truncate" else "truncate",
                         "calibration": classifier.calibration.describe()
                         if classifier.calibration is not None else None,
                         "do_lower_case": bundle.do_lower_case, "precision": bundle.precision,
                         "runs": classifier.choice.path or "device default",
                         "device": classifier.device,
                         "max_batch_size": served.batcher.max_batch_size, "limits": dataclasses.asdict(self.limits),
                         "timeouts": dataclasses.asdict(self.timeouts)}})

    async def list_models(self, request):
        """Every served model and version, newest version first."""
        return JSONResponse({"models": [{"name": s.name, "version": s.version} for s in self.models.all_versions()]})

    async def healthz(self, request):
        return JSONResponse({"status": "ok"})

    async def live(self, request):
        return JSONResponse({"live": True})

    async def ready_status(self, request):
        if self.ready:
            return JSONResponse({"ready": True})
        return JSONResponse({"ready": False}, status_code=503, headers={"Retry-After": str(RETRY_AFTER_SECONDS)})

    async def metrics_text(self, request):
        return Response(generate_latest(self.metrics.registry), media_type=CONTENT_TYPE_LATEST)

    async def openapi(self, request):
        return JSONResponse(OPENAPI)

    # --- request checks ------------------------------------------------------------------------------------------

    def _check_model(self, request) -> tuple:
        """(name, version) of a /v1/models/NAME[/versions/V]... request, 404 unless served, 405 for a GET of a verb."""
        name, version = request.path_params["name"], request.path_params.get("version", "")
        for verb in (":predict", ":explain"):
            if (version or name).endswith(verb):
                raise ApiError(405, f"use POST for {request.url.path}", "wrong_method")
        self.models.resolve(name, version)
        return name, version

    def _admit(self):
        """503 unless the service is ready and under its cap of requests in flight."""
        if self.shutting_down:
            raise come_back_later("the service is shutting down", "shutting_down")
        if not self.ready:
            raise come_back_later("the model is warming up", "not_ready")
        self._check_capacity()

    def _check_capacity(self):
        if self.in_flight >= self.limits.max_in_flight:
            raise come_back_later(f"the service is at its limit of {self.limits.max_in_flight} requests in "
                                  f"flight", "overloaded")

    async def _read_body(self, request) -> bytes:
        """The body, refused with 413 as soon as it is known to be over the limit, and with 408 when it has not
        all arrived `timeouts.body` seconds after the headers."""
        limit = self.limits.max_body_bytes
        too_large = ApiError(413, f"request body is over the limit of {limit} bytes: send fewer or shorter texts "
                                  f"per request", "body_too_large")
        declared = request.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > limit:
            raise too_large
        body = bytearray()
        try:
            async with asyncio.timeout(self.timeouts.body), contextlib.aclosing(request.stream()) as chunks:
                async for chunk in chunks:
                    body += chunk
                    if len(body) > limit:
                        raise too_large
        except ClientDisconnect:
            raise ApiError(400, "the client disconnected before sending the whole body", "disconnected") from None
        except TimeoutError:
            raise ApiError(408, f"the body did not arrive within {self.timeouts.body:g} s of the headers",
                           "body_timeout", {"Connection": "close"}) from None
        return bytes(body)

    # --- the app -------------------------------------------------------------------------------------------------

    def instrumented(self, endpoint: str, handler):
        """`handler` as a Starlette endpoint that turns ApiError (and bugs) into JSON errors and records metrics."""
        async def endpoint_function(request):
            started = time.perf_counter()
            try:
                response = await handler(request)
            except ApiError as err:
                response = self.error_response(endpoint, err.status, err.message, err.reason, err.headers)
            except Exception:
                log.exception("%s %s failed", request.method, request.url.path)
                response = self.error_response(endpoint, 500, "internal server error; see the server's log",
                                               "internal")
            self.metrics.requests.labels(endpoint, str(response.status_code)).inc()
            self.metrics.latency.labels(endpoint).observe(time.perf_counter() - started)
            return response
        return endpoint_function

    def error_response(self, endpoint: str, status: int, message: str, reason: str, headers=None):
        self.metrics.errors.labels(endpoint, reason).inc()
        return JSONResponse({"error": message}, status_code=status, headers=headers)

    async def http_exception(self, request, exc: HTTPException):
        """Starlette's own 404 (no such path) and 405 (wrong method), as JSON errors like ours."""
        if exc.status_code == 404:
            message = f"no such endpoint: {request.method} {request.url.path}; see GET /openapi.json"
        else:
            message = f"{request.method} is not allowed on {request.url.path}"
        self.metrics.requests.labels("other", str(exc.status_code)).inc()
        return self.error_response("other", exc.status_code, message, "no_route", headers=exc.headers)


def create_app(classifier, model_name: str, limits: Limits = Limits(), timeouts: Timeouts = Timeouts(),
               max_batch_size: int = ServeOptions.max_batch_size, max_wait_ms: float = ServeOptions.max_wait_ms,
               on_ready=None, repository=None, warm_up_first: bool = False) -> Starlette:
    """The ASGI app for a `Classifier` compiled with performance_hint="THROUGHPUT", or, with `repository`
    (make_batcher -> a repository.Repository), for the models of a repository. `on_ready()` is called once
    warm-up is over and the service is ready. `app.state.service` is the `Service`, for tests.

    `warm_up_first` makes the lifespan's startup wait for warm-up (and fail if it fails) instead of warming up in
    the background: a Ray Serve replica sends no requests to an app before its startup ends (infer/ray_serving.py)."""
    service = Service(classifier, model_name, limits, timeouts, max_batch_size, max_wait_ms, repository)

    async def warm_up():
        """In the background, so that liveness answers while it runs (a repository loads its models here)."""
        try:
            await service.models.warm_up()
        except Exception:
            if warm_up_first:
                raise
            log.exception("warm-up failed: the service stays unready")
            return
        service.set_ready(not service.shutting_down)
        if on_ready is not None:
            on_ready()

    @contextlib.asynccontextmanager
    async def lifespan(app):
        await service.models.start()
        warming = asyncio.create_task(warm_up(), name="bertvino-warm-up")
        if warm_up_first:
            await warming
        yield
        service.set_ready(False)
        await warming
        await service.models.close()

    def route(path, endpoint, handler, method):
        return Route(path, service.instrumented(endpoint, handler), methods=[method], name=endpoint)

    app = Starlette(routes=[
        route("/v1/models/{name}:predict", "predict", service.predict, "POST"),
        *explain_routes.routes(service, route),  # :explain and the page at /
        route("/v1/models", "models", service.list_models, "GET"),
        route("/v1/models/{name}", "model_status", service.model_status, "GET"),
        route("/v1/models/{name}/metadata", "model_metadata", service.model_metadata, "GET"),
        route("/v1/models/{name}/versions/{version}:predict", "predict", service.predict, "POST"),
        route("/v1/models/{name}/versions/{version}", "model_status", service.model_status, "GET"),
        route("/v1/models/{name}/versions/{version}/metadata", "model_metadata", service.model_metadata, "GET"),
        route("/healthz", "healthz", service.healthz, "GET"),
        route("/v2/health/live", "live", service.live, "GET"),
        route("/v2/health/ready", "ready", service.ready_status, "GET"),
        route("/metrics", "metrics", service.metrics_text, "GET"),
        route("/openapi.json", "openapi", service.openapi, "GET"),
        *open_inference.routes(service, route),
    ], exception_handlers={HTTPException: service.http_exception}, lifespan=lifespan)
    app.state.service = service
    return app


def run(bundle, options: ServeOptions | None = None):
    """Serve a loaded `Bundle` until SIGTERM or Ctrl+C.

    Port 0 picks a free port; the line "serving model 'NAME' on http://HOST:PORT" on stderr says which, once the
    service is warmed up and ready. Raises BertvinoError for a bad device, or an address it cannot listen on.
    """
    from .classifier import Classifier

    from . import access

    options = options or ServeOptions()
    repository = None
    if options.model_repository is not None:  # `bundle` is None: the repository's bundles load once serving
        from .repository import Repository, check_repository

        root = Path(options.model_repository)
        found = check_repository(root)
        model_name = ", ".join(f"'{name}'" for name in sorted({name for name, _ in found}))

        def compile_bundle(bundle):
            return Classifier(bundle, device=options.device, performance_hint="THROUGHPUT",
                              precision=options.precision, measure=True)

        def repository(make_batcher):
            return Repository(root, compile_bundle, make_batcher, poll_seconds=options.poll_seconds)
    else:
        model_name = options.model_name or bundle.path.resolve().name
        if "/" in model_name or ":" in model_name:
            raise BertvinoError(f"model name {model_name!r} cannot contain '/' or ':' (they end the name in URLs)")
    host = options.host
    tls = access.tls_files(options.ssl_certfile, options.ssl_keyfile)
    if options.grpc_port:  # a taken port fails fast, before compiling (gRPC binds it once the loop runs)
        _listen(host, options.grpc_port).close()
    listener = _listen(host, options.port)  # before compiling, so that a taken port fails fast
    try:
        classifier = None
        if repository is None:
            classifier = Classifier(bundle, device=options.device, performance_hint="THROUGHPUT",
                                    precision=options.precision, measure=True)
            print(f"bertvino serve: {classifier.choice.line()}", file=sys.stderr, flush=True)
    except BaseException:
        listener.close()
        raise
    bracketed = host if ':' not in host else f'[{host}]'
    url = f"{'https' if tls else 'http'}://{bracketed}:{listener.getsockname()[1]}"
    if not _is_loopback(host) and not options.api_key:
        log.warning("listening on %s, beyond this machine, with no API key (--api-key)", host)
    grpc_port = []  # known once the gRPC server has bound its port, before warm-up ends

    def ready():
        grpc_part = f" and gRPC on {bracketed}:{grpc_port[0]}{' (TLS)' if tls else ''}" if grpc_port else ""
        if repository is not None:
            print(f"bertvino serve: serving models of {options.model_repository} on {url}{grpc_part} "
                  f"(GET {url}/v1/models lists them; new versions load within {options.poll_seconds:g} s)",
                  file=sys.stderr, flush=True)
            return
        print(f"bertvino serve: serving model '{model_name}' on {url}{grpc_part} "
              f"(POST {url}/v1/models/{model_name}:predict)", file=sys.stderr, flush=True)

    app = create_app(classifier, model_name, options.limits, options.timeouts, max_batch_size=options.max_batch_size,
                     max_wait_ms=options.max_wait_ms, on_ready=ready, repository=repository)
    service = app.state.service
    if options.api_key:
        app.add_middleware(access.RequireApiKey, key=options.api_key,
                           on_refused=lambda: service.metrics.errors.labels("auth", "unauthorized").inc())
    server = uvicorn_server(app, options.timeouts, options.log_level,
                            **({"ssl_certfile": options.ssl_certfile, "ssl_keyfile": options.ssl_keyfile} if tls else {}))

    async def serve():
        """uvicorn and, with --grpc-port, the gRPC server, in one event loop: gRPC starts first and stops last,
        after uvicorn's shutdown has closed the batcher, which first answers every text it accepted."""
        grpc_server = None
        if options.grpc_port is not None:
            from .grpc_inference import start_grpc_server
            grpc_server, bound = await start_grpc_server(service, host, options.grpc_port, tls, options.api_key)
            grpc_port.append(bound)
        try:
            await server.serve(sockets=[listener])
        finally:
            if grpc_server is not None:
                await grpc_server.stop(options.timeouts.shutdown)

    # uvicorn shuts down gracefully on SIGTERM, then raises the signal again with the handler it found; this
    # no-op handler makes that a clean exit (status 0), the normal end of a service.
    previous = signal.signal(signal.SIGTERM, lambda signum, frame: None)
    try:
        asyncio.run(serve())
    finally:
        signal.signal(signal.SIGTERM, previous)
        listener.close()


def uvicorn_server(app: Starlette, timeouts: Timeouts = Timeouts(), log_level: str = "info", **config):
    """The uvicorn server for `app`, with the header, keep-alive and shutdown deadlines of `timeouts` (the body's
    is the app's) and readiness turned off as soon as a signal asks it to stop; `config` is more of
    uvicorn.Config's settings (ssl_certfile, ssl_keyfile)."""
    import uvicorn

    class Server(uvicorn.Server):
        def handle_exit(self, sig, frame):
            app.state.service.begin_shutdown()
            super().handle_exit(sig, frame)

    return Server(uvicorn.Config(app, log_level=log_level, access_log=False, lifespan="on",
                                 http=protocol_with_header_deadline(timeouts.headers),
                                 timeout_keep_alive=timeouts.keep_alive,
                                 timeout_graceful_shutdown=timeouts.shutdown, **config))


def _listen(host: str, port: int) -> socket.socket:
    """A listening socket, made here so that a taken port is a one-line error and port 0 works."""
    try:
        family = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0][0]
        # IPPROTO_TCP named, not left 0: asyncio turns Nagle off (TCP_NODELAY) only on sockets that say TCP, and
        # with Nagle on, a kept-alive connection waited ~40 ms per response for the client's delayed ACK.
        listener = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind((host, port))
        listener.listen(2048)
    except OSError as err:
        raise BertvinoError(f"cannot listen on {host}:{port}: {err.strerror or err}") from None
    return listener


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


# --- OpenAPI -----------------------------------------------------------------------------------------------------

def _json(schema_ref: str, description: str) -> dict:
    return {"description": description,
            "content": {"application/json": {"schema": {"$ref": f"#/components/schemas/{schema_ref}"}}}}


def _versioned_v1_paths(paths: dict) -> dict:
    """/v1/models/{name}/versions/{version}[:predict|/metadata]: the unversioned operations, for one version."""
    version = {"name": "version", "in": "path", "required": True, "schema": {"type": "string"},
               "description": 'the model version: "1" with -m, a version directory\'s number with '
                              '--model-repository'}
    made = {}
    for suffix in (":predict", "", "/metadata"):
        ((method, operation),) = paths["/v1/models/{name}" + suffix].items()
        made["/v1/models/{name}/versions/{version}" + suffix] = {method: {
            **operation, "operationId": operation["operationId"] + "Version",
            "parameters": [*operation["parameters"], version]}}
    return made


_MODEL_NAME = {"name": "name", "in": "path", "required": True, "schema": {"type": "string"},
               "description": "the served model's name (by default the bundle directory's name)"}
_UNKNOWN_MODEL = _json("Error", "no model of that name is served here")

OPENAPI = {
    "openapi": "3.1.0",
    "info": {"title": "bertvino serve", "version": "1",
             "description": "A fine-tuned BERT text classifier on OpenVINO, in TensorFlow Serving's REST shape "
                            "with text in. Errors are {\"error\": message}."},
    "paths": {
        "/v1/models/{name}:predict": {"post": {
            "summary": "Classify texts",
            "description": "Texts from concurrent requests are classified together in dynamic batches.",
            "operationId": "predict",
            "parameters": [_MODEL_NAME],
            "requestBody": {"required": True,
                            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/PredictRequest"},
                                                             "example": {"instances": ["A moving, beautifully "
                                                                                       "acted film."]}}}},
            "responses": {
                "200": _json("PredictResponse", "one prediction per instance, in order"),
                "400": _json("Error", "not JSON, no instances list, an empty list, an instance that is not a "
                                      "string, is empty or only whitespace, or is longer than the character "
                                      "limit"),
                "404": _UNKNOWN_MODEL,
                "408": _json("Error", "the body did not arrive within the body timeout"),
                "413": _json("Error", "the body is over the byte limit, or there are more instances than the "
                                      "limit: send less per request"),
                "503": _json("Error", "the service is warming up, shutting down, or has its limit of requests "
                                      "in flight: retry after the seconds in the Retry-After header")}}},
        "/v1/models/{name}": {"get": {
            "summary": "Model status, as TensorFlow Serving reports it", "operationId": "modelStatus",
            "parameters": [_MODEL_NAME],
            "responses": {"200": _json("ModelStatus", "the model is loaded"), "404": _UNKNOWN_MODEL}}},
        "/v1/models/{name}/metadata": {"get": {
            "summary": "Labels, input length, precision and request limits", "operationId": "modelMetadata",
            "parameters": [_MODEL_NAME],
            "responses": {"200": _json("ModelMetadata", "what the model is"), "404": _UNKNOWN_MODEL}}},
        "/v1/models": {"get": {
            "summary": "The served models and versions (not part of TensorFlow Serving's API)",
            "operationId": "listModels",
            "responses": {"200": _json("Models", "every model and version served (-m: one)")}}},
        "/healthz": {"get": {
            "summary": "Liveness", "operationId": "health",
            "responses": {"200": _json("Health", "the service is up")}}},
        "/v2/health/live": {"get": {
            "summary": "KServe v2 liveness: the process answers", "operationId": "serverLive",
            "responses": {"200": _json("Live", "the service is up")}}},
        "/v2/health/ready": {"get": {
            "summary": "KServe v2 readiness: warmed up and not shutting down", "operationId": "serverReady",
            "responses": {"200": _json("Ready", "ready for predict requests"),
                          "503": _json("Ready", "warming up or shutting down; see Retry-After")}}},
        "/metrics": {"get": {
            "summary": "Prometheus metrics", "operationId": "metrics",
            "responses": {"200": {"description": "Prometheus text exposition format",
                                  "content": {"text/plain": {"schema": {"type": "string"}}}}}}},
        "/openapi.json": {"get": {
            "summary": "This description", "operationId": "openapi",
            "responses": {"200": {"description": "OpenAPI 3.1",
                                  "content": {"application/json": {"schema": {"type": "object"}}}}}}},
        **open_inference.OPENAPI_PATHS,
    },
    "components": {"schemas": {
        "PredictRequest": {
            "type": "object", "required": ["instances"],
            "properties": {"instances": {"type": "array", "minItems": 1, "items": {"type": "string"},
                                         "description": "the texts; at most max_instances, each at most "
                                                        "max_chars characters (see the metadata)"}}},
        "PredictResponse": {
            "type": "object", "required": ["predictions"],
            "properties": {"predictions": {"type": "array", "items": {"$ref": "#/components/schemas/Prediction"}}}},
        "Prediction": {
            "type": "object", "required": ["label", "probabilities"],
            "properties": {"label": {"type": "string", "description": "the most probable label"},
                           "probabilities": {"type": "object", "additionalProperties": {"type": "number"},
                                             "description": "each label's probability, in the model's order"}}},
        "ModelStatus": {
            "type": "object", "required": ["model_version_status"],
            "properties": {"model_version_status": {"type": "array", "items": {
                "type": "object",
                "properties": {"version": {"type": "string"}, "state": {"type": "string"},
                               "status": {"type": "object",
                                          "properties": {"error_code": {"type": "string"},
                                                         "error_message": {"type": "string"}}}}}}}},
        "ModelMetadata": {
            "type": "object", "required": ["model_spec", "metadata"],
            "properties": {
                "model_spec": {"type": "object", "properties": {"name": {"type": "string"},
                                                                "version": {"type": "string"}}},
                "metadata": {"type": "object", "properties": {
                    "labels": {"type": "array", "items": {"type": "string"}},
                    "max_seq_length": {"type": "integer"}, "truncation": {"type": "string"},
                    "long_texts": {"type": "string", "description": "truncate, windows:S (read whole), or windows:S,below:P (read whole when unsure)"},
                    "calibration": {"type": ["string", "null"],
                                    "description": "how the probabilities are calibrated; null: not calibrated"},
                    "do_lower_case": {"type": "boolean"}, "precision": {"type": ["string", "null"]},
                    "runs": {"type": "string", "description": "the path --precision chose: int8, bf16 or f32"},
                    "device": {"type": "string"}, "max_batch_size": {"type": "integer"},
                    "limits": {"type": "object", "properties": {"max_body_bytes": {"type": "integer"},
                                                                "max_instances": {"type": "integer"},
                                                                "max_chars": {"type": "integer"},
                                                                "max_in_flight": {"type": "integer"}}},
                    "timeouts": {"type": "object", "description": "seconds",
                                 "properties": {name: {"type": "number"}
                                                for name in ("headers", "body", "keep_alive", "shutdown")}}}}}},
        "Models": {
            "type": "object", "required": ["models"],
            "properties": {"models": {"type": "array", "items": {
                "type": "object", "properties": {"name": {"type": "string"}, "version": {"type": "string"}}}}}},
        "Health": {"type": "object", "required": ["status"], "properties": {"status": {"const": "ok"}}},
        "Live": {"type": "object", "required": ["live"], "properties": {"live": {"type": "boolean"}}},
        "Ready": {"type": "object", "required": ["ready"], "properties": {"ready": {"type": "boolean"}}},
        "Error": {"type": "object", "required": ["error"], "properties": {"error": {"type": "string"}}},
        **open_inference.OPENAPI_SCHEMAS,
    }},
}
OPENAPI["paths"].update(explain_routes.OPENAPI_PATHS)
OPENAPI["paths"].update(_versioned_v1_paths(OPENAPI["paths"]))
OPENAPI["components"]["schemas"].update(explain_routes.OPENAPI_SCHEMAS)
