"""What `bertvino serve` can be told, and each option's default, declared once: the CLI's flags read their defaults
here, and this module needs nothing of the serve extra (Starlette, uvicorn), so building the parser never does."""

import dataclasses
import math

from ..core.errors import BertvinoError


@dataclasses.dataclass(frozen=True)
class Limits:
    """What one request may ask for; see infer/server.py's docstring for the status each one answers with."""

    max_body_bytes: int = 1_048_576
    max_instances: int = 256
    max_chars: int = 100_000
    max_in_flight: int = 128  # predict requests past their body at once; more get 503


@dataclasses.dataclass(frozen=True)
class Timeouts:
    """Seconds a client, or a shutdown, may take; see infer/server.py's docstring."""

    headers: float = 10.0
    body: float = 30.0
    keep_alive: float = 5.0
    shutdown: float = 30.0


@dataclasses.dataclass(frozen=True)
class ServeOptions:
    """How `run` serves a bundle: the flags of `bertvino serve`, by the same names, with the per-request limits and
    the timeouts grouped. Checked when made, so a bad value fails before a model is loaded."""

    host: str = "127.0.0.1"
    port: int = 8501  # 0 picks a free port
    model_name: str | None = None  # None: the bundle directory's name
    device: str = "CPU"
    precision: str | None = None  # --precision: auto, int8, bf16 or f32; None: $BERTVINO_PRECISION, else auto
    max_batch_size: int = 32  # the dynamic batcher's: most texts classified together
    max_wait_ms: float = 5.0  # the dynamic batcher's: 0 batches only what piles up while the device is busy
    limits: Limits = Limits()
    timeouts: Timeouts = Timeouts()
    log_level: str = "info"
    grpc_port: int | None = None  # the Open Inference Protocol over gRPC too, on this port (0: a free one)
    api_key: str | None = None  # required as "Authorization: Bearer KEY" on all but the health checks
    ssl_certfile: str | None = None  # with ssl_keyfile: TLS on both ports
    ssl_keyfile: str | None = None
    model_repository: str | None = None  # serve DIR/NAME/VERSION/ bundles instead of one (infer/repository.py)
    poll_seconds: float = 2.0  # how often the model repository is scanned for new and removed versions

    def __post_init__(self):
        if self.grpc_port is not None and not 0 <= self.grpc_port <= 65535:
            raise BertvinoError(f"--grpc-port must be between 0 and 65535, not {self.grpc_port}")
        _check_options(port=self.port, max_batch_size=self.max_batch_size, max_wait_ms=self.max_wait_ms,
                       poll_seconds=self.poll_seconds,
                       **dataclasses.asdict(self.limits),
                       **{f"{name}_timeout": value for name, value in dataclasses.asdict(self.timeouts).items()})


def _check_options(port: int, **positive):
    if not 0 <= port <= 65535:
        raise BertvinoError(f"--port must be between 0 and 65535, not {port}")
    for name, value in positive.items():
        may_be_zero = name == "max_wait_ms"
        if not (value >= 0 if may_be_zero else value > 0) or not math.isfinite(value):  # NaN fails both
            raise BertvinoError(f"--{name.replace('_', '-')} must be {'>= 0' if may_be_zero else '> 0'}, not {value}")
