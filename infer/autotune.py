"""auto by measurement: time each path auto may run on this machine, once, and cache the table.

The table is what `precision.choose_precision` picks from. Timing: each path's IR compiled as `score` compiles it
(THROUGHPUT), the engine's throughput at batch 8 at a quarter and a half of max_seq_length (64 and 128 for the
default model: the issue's AMX table ranks the paths alike at 64, 128 and 256 tokens, and 256 would double the
cost), the paths interleaved and repeated `ROUNDS` times, each keeping its best, so a neighbour's burst on a busy
machine lowers one sample, not one path. A path's figure is the geometric mean over the lengths. A few seconds in
all; the compiles come from OpenVINO's model cache once it is warm.

The cache: one JSON file per key in `cache_dir()/auto/`, the key naming everything that changes the answer: the
CPU's model and flags, OpenVINO's version, the device, and each IR (the sha256 of its .xml, the size and mtime
of its .bin: hashing a 45 MB .bin would cost classify a quarter of a second). A new IR, a new OpenVINO or another
machine is a new key, so a stale table is never read. `cache_dir()` is $BERTVINO_CACHE_DIR, else
$XDG_CACHE_HOME/bertvino, else ~/.cache/bertvino; OpenVINO's compiled-model cache lives there too (`openvino/`).
"""

import hashlib
import json
import math
import os
import time
from pathlib import Path

from ..core.files import write_json_atomically

TOLERANCE = 0.03  # a more accurate path within 3 % of the fastest is taken instead: timings vary by that much
ROUNDS = 3
SECONDS_PER_SAMPLE = 0.15  # at least one batch per infer request, whatever it takes
BATCH = 8
CACHE_ENV = "BERTVINO_CACHE_DIR"


def cache_dir() -> Path:
    """Where bertvino keeps what it learns about this machine (measurements, OpenVINO's compiled models)."""
    if os.environ.get(CACHE_ENV):
        return Path(os.environ[CACHE_ENV])
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "bertvino"


def writable_cache(sub: str) -> Path | None:
    """`cache_dir()/sub`, made if need be, or None when it cannot be written (a read-only home)."""
    path = cache_dir() / sub
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError:
        return None
    return path if os.access(path, os.W_OK | os.X_OK) else None


def cache_key(bundle, capabilities, device: str = "CPU") -> dict:
    import openvino as ov

    irs = {}
    for xml in (bundle.model_xml, bundle.int8_xml):
        binary = xml.with_suffix(".bin")
        if xml.is_file() and binary.is_file():
            stat = binary.stat()
            irs[xml.name] = {"xml_sha256": hashlib.sha256(xml.read_bytes()).hexdigest(),
                             "bin_bytes": stat.st_size, "bin_mtime_ns": stat.st_mtime_ns}
    return {"cpu": capabilities.cpu_model, "cpu_flags": sorted(capabilities.cpu_flags), "device": device,
            "openvino": ov.__version__, "irs": irs}


def _key_file(key: dict) -> str:
    return hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()[:24] + ".json"


def cached(bundle, capabilities, device: str = "CPU") -> dict | None:
    """The measured table for this key ({"seq_per_s": {path: ...}, ...}), or None (never measured, unreadable)."""
    key = cache_key(bundle, capabilities, device)
    try:
        entry = json.loads((cache_dir() / "auto" / _key_file(key)).read_text())
    except (OSError, ValueError):
        return None
    return entry if isinstance(entry, dict) and entry.get("key") == key else None


def measure(bundle, paths, core=None, device: str = "CPU", rounds: int = ROUNDS,
            seconds: float = SECONDS_PER_SAMPLE) -> dict:
    """{"seq_per_s": {path: geometric mean}, "by_length": {path: {length: best}}, ...} on this machine, now."""
    import openvino as ov

    from .bench import queue_throughput, random_batch
    from .classifier import compile_config
    from .precision import path_ir

    core = core or ov.Core()
    started = time.perf_counter()
    lengths = sorted({max(8, bundle.max_seq_length // 4), max(8, bundle.max_seq_length // 2)})
    inputs = {n: random_batch(BATCH, n, bundle.vocab_size) for n in lengths}
    queues = {}
    for path in paths:
        model_xml, hint = path_ir(bundle, path)
        compiled = core.compile_model(str(model_xml), device, compile_config(device, "THROUGHPUT", hint))
        queues[path] = ov.AsyncInferQueue(compiled, 0)
        for n in lengths:  # warm-up: each request once at each length
            queue_throughput(queues[path], inputs[n], 0)
    best = {path: {n: 0.0 for n in lengths} for path in paths}
    for _ in range(rounds):
        for n in lengths:
            for path in paths:  # interleaved: a burst of other work hits one sample of each path, not one path
                best[path][n] = max(best[path][n], queue_throughput(queues[path], inputs[n], seconds))
    return {"seq_per_s": {path: round(math.exp(sum(math.log(v) for v in by.values()) / len(by)), 1)
                          for path, by in best.items()},
            "by_length": {path: {str(n): round(v, 1) for n, v in by.items()} for path, by in best.items()},
            "batch": BATCH, "rounds": rounds, "seconds": round(time.perf_counter() - started, 1),
            "measured_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}


def save(bundle, capabilities, table: dict, device: str = "CPU") -> Path:
    """Write the table for this key into the cache; OSError when the cache cannot be written."""
    key = cache_key(bundle, capabilities, device)
    folder = cache_dir() / "auto"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / _key_file(key)
    write_json_atomically(path, {"key": key, "bundle": str(bundle.path.resolve()), **table})
    return path


def measure_and_save(bundle, capabilities, paths, core=None, device: str = "CPU", **timing) -> tuple:
    """(table, where it was cached or why not); `timing`: measure's rounds and seconds."""
    table = measure(bundle, paths, core, device, **timing)
    try:
        return table, f"cached in {save(bundle, capabilities, table, device)}"
    except OSError as err:
        return table, f"not cached: {err.strerror or err}"


def pick(seq_per_s: dict) -> tuple:
    """(path, why) from {path: seq/s}: the fastest, unless a more accurate path is within TOLERANCE of it."""
    from .precision import PATHS

    fastest = max(seq_per_s, key=seq_per_s.get)
    for path in PATHS:  # most accurate first
        if path in seq_per_s and seq_per_s[path] >= (1 - TOLERANCE) * seq_per_s[fastest]:
            break
    f32 = seq_per_s.get("f32")
    speed = f"{seq_per_s[path] / f32:.2f}x f32" if f32 and path != "f32" else f"{seq_per_s[path]:.0f} seq/s"
    if path == fastest:
        return path, f"fastest measured here, {speed}"
    return path, (f"within {100 * TOLERANCE:.0f} % of the fastest measured here ({fastest}, "
                  f"{seq_per_s[fastest]:.0f} vs {seq_per_s[path]:.0f} seq/s) and more accurate")
