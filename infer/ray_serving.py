"""`bertvino serve --ray [ADDRESS] --replicas N`: `serve`'s app on Ray Serve, on a local Ray or a cluster.

    driver (this process): joins Ray as `score --ray` does (`ray_scoring.connect`), gets the bundle to the nodes
        (`ray_scoring.bundle_source`: by its path when every node reads it, else through the object store),
        starts Ray Serve's HTTP proxy on HOST:PORT and deploys N replicas, then waits for SIGTERM or Ctrl+C
    each replica (a Ray actor reserving `threads` CPUs): compiles the bundle once, builds `server.create_app`
        (TF Serving REST, the Open Inference Protocol's REST routes, :explain, /metrics) with its own
        `DynamicBatcher`, and warms up before Ray Serve routes a request to it

Ray Serve's proxy takes the connections and hands each request to a replica, whole, through Ray Serve's ASGI
ingress (`@serve.ingress` with the app built in the replica by `__serve_build_asgi_app__`), so the app is the one
plain `serve` runs, limits, API key and error bodies included. What changes is what the proxy owns: the listening
socket, TLS (--ssl-certfile/--ssl-keyfile are handed to it) and the connection deadlines (keep-alive is handed
on; the header deadline is uvicorn's own in Ray Serve's proxy), and gRPC, which Ray Serve serves with its own proxy
and protobuf services, not the Open Inference Protocol's: --grpc-port is refused with --ray. /metrics and a
model's status are one replica's (the one that answered). docs/serving-protocols.md, "Ray Serve", has the figures.
"""

import logging
import os
import signal
import sys
import threading

import ray

from ..core.bundle import load_bundle
from ..core.errors import BertvinoError, first_line
from .ray_scoring import LOCAL, BundleSource, cluster_cpus, node_cpus, bundle_source, connect
from .precision import requested_path
from .serve_options import ServeOptions

try:
    from ray import serve
except ModuleNotFoundError as err:  # ray without its serve extra (fastapi, starlette, uvicorn, ...)
    raise BertvinoError(f"--ray needs Ray Serve, which is not installed (no {err.name}): "
                        "pip install 'bertvino[ray]'") from None

APP_NAME = "bertvino"
QUIET_GRPC = {"GRPC_VERBOSITY": "ERROR"}  # a replica's gRPC (Ray's) logs an INFO line on stderr when a child forks


class Replica:
    """One Ray Serve replica: the bundle compiled once and served by `create_app` with its own batcher."""

    def __init__(self, source: BundleSource, options: ServeOptions, model_name: str, threads: int):
        from .classifier import Classifier

        self.options, self.model_name = options, model_name
        self.classifier = Classifier(load_bundle(source.local_path()), device=options.device,
                                     performance_hint="THROUGHPUT", precision=options.precision, threads=threads,
                                     measure=True)

    def __serve_build_asgi_app__(self):
        """Called by Ray Serve once the constructor is done; the app's startup (warm-up) runs before any request."""
        from . import access
        from .server import create_app

        options = self.options
        app = create_app(self.classifier, self.model_name, options.limits, options.timeouts,
                         max_batch_size=options.max_batch_size, max_wait_ms=options.max_wait_ms, warm_up_first=True)
        if options.api_key:
            service = app.state.service
            app.add_middleware(access.RequireApiKey, key=options.api_key,
                               on_refused=lambda: service.metrics.errors.labels("auth", "unauthorized").inc())
        return app


def serve_on_ray(bundle, options: ServeOptions, address: str = LOCAL, replicas: int = 1, threads: int | None = None,
                 bundle_mode: str = "auto"):
    """Serve a loaded `Bundle` on Ray Serve with `replicas` replicas of `threads` OpenVINO threads each (default:
    the cluster's CPUs shared among them, at most a node's) until SIGTERM or Ctrl+C; then Ray Serve is shut down
    (each replica drains its requests, up to --shutdown-timeout) and so is the Ray this call started."""
    from . import access
    from .server import _listen

    check_ray_options(options, replicas, threads)
    tls = access.tls_files(options.ssl_certfile, options.ssl_keyfile)  # checked here; Ray Serve's proxy serves it
    model_name = options.model_name or bundle.path.resolve().name
    if "/" in model_name or ":" in model_name:
        raise BertvinoError(f"model name {model_name!r} cannot contain '/' or ':' (they end the name in URLs)")
    if address == LOCAL:  # the replicas run here: a device this machine lacks fails now, not in every replica
        import openvino

        from .classifier import check_device
        check_device(openvino.Core(), options.device)
    requested_path(options.precision)  # a bad --precision (or $BERTVINO_PRECISION) too
    probe = _listen(options.host, options.port)  # a taken port fails fast, before Ray starts; 0 picks a free one
    port = probe.getsockname()[1]
    probe.close()  # Ray Serve's proxy binds it
    stop = threading.Event()
    started_ray = connect(address)
    serving = False  # Ray Serve started by this call, to be shut down
    deploying, failure = None, []
    previous = {signum: signal.signal(signum, lambda *_: stop.set()) for signum in (signal.SIGTERM, signal.SIGINT)}
    try:
        threads = replica_threads(replicas, threads, local=started_ray)
        source = bundle_source(bundle.path, bundle_mode)
        quiet_serve()
        serve.start(http_options={"host": options.host, "port": port,
                                  "keep_alive_timeout_s": max(1, round(options.timeouts.keep_alive)),
                                  **({"ssl_certfile": os.path.abspath(options.ssl_certfile),
                                         "ssl_keyfile": os.path.abspath(options.ssl_keyfile)}
                                     if tls else {})},
                    logging_config={"log_level": "WARNING"})
        serving = True
        deployment = serve.deployment(serve.ingress()(Replica), name=APP_NAME, num_replicas=replicas,
                                      ray_actor_options={"num_cpus": threads, "runtime_env": {"env_vars": QUIET_GRPC}},
                                      max_ongoing_requests=options.limits.max_in_flight,  # the app's cap rules
                                      graceful_shutdown_timeout_s=options.timeouts.shutdown,
                                      logging_config={"log_level": "WARNING"})
        deploying = threading.Thread(target=deploy, args=(deployment.bind(source, options, model_name, threads),
                                                          failure), name="ray-serve-deploy", daemon=True)
        deploying.start()
        while deploying.is_alive() and not stop.wait(0.5):
            pass
        if failure:
            raise BertvinoError(f"Ray Serve could not start the replicas: {failure[0]}")
        if stop.is_set():
            print("bertvino serve: stopped before it was ready", file=sys.stderr, flush=True)
            return
        host = options.host if ":" not in options.host else f"[{options.host}]"
        url = f"{'https' if tls else 'http'}://{host}:{port}"
        print(f"bertvino serve: serving model '{model_name}' on {url} with {replicas} Ray Serve "
              f"replica{'s' if replicas > 1 else ''} of {threads} thread{'s' if threads > 1 else ''} "
              f"(POST {url}/v1/models/{model_name}:predict)", file=sys.stderr, flush=True)
        while not stop.wait(0.5):
            pass
        print("bertvino serve: stopping", file=sys.stderr, flush=True)
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
        if serving:
            # The app first: its replicas drain their requests and close their batchers (a few seconds); Serve's
            # shutdown alone waited 30 s for its controller at times, then killed it.
            serve.delete(APP_NAME)
            serve.shutdown()
        if deploying is not None:
            deploying.join(timeout=30)  # stopped while deploying: its wait ends with the app, before Ray's end
        if started_ray:
            ray.shutdown()


def deploy(app, failure: list):
    """`serve.run(app)`, which returns once every replica is warm (on a cluster, once the CPUs exist), run in a
    thread so that SIGTERM or Ctrl+C can end the wait: a signal's exception raised inside Ray's wait does not unwind
    cleanly. Why it failed goes to `failure` (a replica that cannot start: Ray Serve gives up after a few tries)."""
    try:
        serve.run(app, name=APP_NAME, route_prefix="/")
    except Exception as err:  # noqa: BLE001 (reported by the main thread, in one line)
        failure.append(_why_replicas_failed() or first_line(err))


def _why_replicas_failed() -> str | None:
    """The last line of the replica's traceback Ray Serve keeps (`bertvino...BertvinoError: unknown OpenVINO
    device ...`), without the exception's module path; None if Serve does not say."""
    try:
        message = serve.status().applications[APP_NAME].deployments[APP_NAME].message
    except Exception:  # noqa: BLE001 (Serve already shutting down: the caller has a reason of its own)
        return None
    lines = [line.strip() for line in message.splitlines() if line.strip()]
    return lines[-1].split(": ", 1)[-1] if lines else None


def check_ray_options(options: ServeOptions, replicas: int, threads: int | None):
    """What --ray cannot do, refused before Ray starts."""
    if replicas < 1:
        raise BertvinoError(f"--replicas must be at least 1, not {replicas}")
    if threads is not None and threads < 1:
        raise BertvinoError(f"--ray-threads must be at least 1, not {threads}")
    if options.grpc_port is not None:
        raise BertvinoError("--grpc-port does not run on --ray: Ray Serve's gRPC proxy serves its own services, "
                            "not the Open Inference Protocol's; serve gRPC without --ray")


def replica_threads(replicas: int, threads: int | None, local: bool) -> int:
    """OpenVINO threads (and CPUs reserved) per replica: given, or the cluster's CPUs shared, at most a node's. On
    the local Ray that --ray starts, replicas that cannot all fit are refused (they would wait forever); a
    cluster may be autoscaling, so there they wait."""
    cpus = cluster_cpus()
    threads = threads or max(1, min(node_cpus(), cpus // replicas))
    if local and replicas * threads > cpus:
        raise BertvinoError(f"--replicas {replicas} of {threads} thread{'s' if threads > 1 else ''} need "
                            f"{replicas * threads} CPUs; the local Ray has {cpus}")
    return threads


def quiet_serve():
    """Ray Serve announces its controller, proxy and every deployment at INFO on the driver's stderr."""
    for name in ("ray.serve", "ray.serve._private"):
        logging.getLogger(name).setLevel(logging.WARNING)
