"""auto by measurement: time each path auto may run on this machine, once, and cache the table.

The table is what `precision.choose_precision` picks from. Timing: each path's IR compiled as `score` compiles it
(THROUGHPUT), the engine's throughput at batch 8 at a quarter and a half of max_seq_length (64 and 128 for the
default model: the issue's AMX table ranks the paths alike at 64, 128 and 256 tokens, and 256 would double the
cost), the paths interleaved and repeated `ROUNDS` times, each keeping its best, so a neighbour's burst on a busy
machine lowers one sample, not one path. A path's figure is the geometric mean over the lengths. A few seconds in
all; the compiles come from OpenVINO's model cache once it is warm.

The cache: one JSON file per key in `cache_dir()/auto/`, the key naming everything that changes the answer: the
CPU's model and flags, OpenVINO's version, the device, the int8 path's arithmetic for its float ops, and each IR
(`cache.ir_identity`: the sha256 of its .xml, the size, mtime and a sampled hash of its .bin). A new IR, a new
OpenVINO, a new compile rule or another machine is a new key, so a stale table is never read. `cache_dir()` is
$BERTVINO_CACHE_DIR, else $XDG_CACHE_HOME/bertvino, else ~/.cache/bertvino; OpenVINO's compiled-model cache lives
there too (`openvino/`, a directory per IR).
"""

import hashlib
import json
import math
import time
from pathlib import Path

from ..core.bundle import Bundle
from ..core.errors import first_line
from ..core.files import write_json_atomically
from .cache import cache_dir, ir_identity, writable_cache
from .precision import (Choice, choose_precision, compile_config, detect_capabilities, int8_float_hint, path_ir,
                        requested_path, usable_paths)
from .timing import queue_throughput, random_batch

ROUNDS = 3
SECONDS_PER_SAMPLE = 0.15  # at least one batch per infer request, whatever it takes
BATCH = 8


def cache_key(bundle, capabilities, device: str = "CPU") -> dict:
    import openvino as ov

    irs = {xml.name: ir_identity(xml) for xml in (bundle.model_xml, bundle.int8_xml)
           if xml.is_file() and xml.with_suffix(".bin").is_file()}
    return {"cpu": capabilities.cpu_model, "cpu_flags": sorted(capabilities.cpu_flags), "device": device,
            "openvino": ov.__version__, "irs": irs,
            "int8_float_ops": int8_float_hint(capabilities.native_bf16)}  # a new compile rule is a new key too


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

    core = core or ov.Core()
    native_bf16 = detect_capabilities(core).native_bf16
    started = time.perf_counter()
    lengths = sorted({max(8, bundle.max_seq_length // 4), max(8, bundle.max_seq_length // 2)})
    inputs = {n: random_batch(BATCH, n, bundle.vocab_size) for n in lengths}
    queues = {}
    for path in paths:
        model_xml, hint = path_ir(bundle, path, native_bf16)
        compiled = core.compile_model(str(model_xml), device, compile_config(device, "THROUGHPUT", hint,
                                                                             model_xml=model_xml))
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


def choose_for_device(core, device: str, bundle: Bundle, requested: str | None = None,
                      measure: bool = False) -> Choice:
    """`choose_precision` with this machine's measurements: read from the cache, or (with `measure`, for the
    commands that run long: score, serve, bench, tune) measured now and cached. classify never waits seconds for a
    measurement: a first classify takes the capability rule. A device other than the CPU (GPU, AUTO, ...) gets the
    float IR in its own default arithmetic under auto."""
    path, _ = requested_path(requested)
    if device.split(".")[0] != "CPU" and path == "auto":
        return Choice(None, bundle.model_xml, "auto", f"device {device}: the float IR in the device's own default "
                                                      "arithmetic")
    capabilities = detect_capabilities(core)
    if path != "auto" or bundle.precision == "int8":
        return choose_precision(capabilities, bundle, requested)
    usable, _ = usable_paths(capabilities, bundle)
    if usable == ["f32"]:
        return choose_precision(capabilities, bundle, requested)
    entry = cached(bundle, capabilities, device)
    measured, unmeasured_why = (entry or {}).get("seq_per_s"), "not measured on this machine yet"
    if (not measured or not set(usable) <= set(measured)) and measure:
        if writable_cache("auto") is None:
            unmeasured_why = f"the cache {cache_dir()} is not writable, so not measured"
        else:
            try:
                entry, _ = measure_and_save(bundle, capabilities, usable, core, device)
                measured = entry["seq_per_s"]
            except RuntimeError as err:  # OpenVINO could not compile or run a path: the rule, not a crash
                unmeasured_why = f"measuring failed ({first_line(err)})"
    return choose_precision(capabilities, bundle, requested, measured=measured, unmeasured_why=unmeasured_why)
