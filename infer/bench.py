"""Measuring speed against the machine's limit: latency, throughput, and the compute floor.

The compute floor of a sequence is the IR's MatMul FLOPs at that length (counted from the IR itself, reshaped to
the length) divided by the single-precision matrix-multiply rate NumPy reaches on this machine in this run. Other
work (LayerNorm, softmax, GELU, tokenization) is left out, so no real run reaches 100 %.

OpenVINO and NumPy only; the TensorFlow baseline lives in `bertvino.convert.tf_runtime` and is passed in.
"""

import functools
import math
import os
import platform
import statistics
import time
from pathlib import Path

import numpy as np

from bertvino.bundle import INPUT_NAMES, OUTPUT_NAME


def sgemm_gflops(size: int = 2048, repeats: int = 5) -> float:
    """The best float32 matrix-multiply rate NumPy reaches here, in GFLOP/s."""
    rng = np.random.default_rng(0)
    a, b = rng.standard_normal((size, size), np.float32), rng.standard_normal((size, size), np.float32)
    a @ b  # warm-up: thread pool start, page faults
    best = math.inf
    for _ in range(repeats):
        started = time.perf_counter()
        a @ b
        best = min(best, time.perf_counter() - started)
    return 2 * size ** 3 / best / 1e9


class FlopCounter:
    """MatMul FLOPs of one sequence of length L through the IR, counted on a copy reshaped to [1, L]: every MatMul
    op, and the two matrix products inside each fused ScaledDotProductAttention op."""

    def __init__(self, model_xml):
        self.model_xml = str(model_xml)

    @functools.lru_cache(maxsize=None)
    def __call__(self, seq_len: int) -> int:
        import openvino as ov

        model = ov.Core().read_model(self.model_xml)
        model.reshape({name: ov.PartialShape([1, seq_len]) for name in INPUT_NAMES})
        total = 0
        for op in model.get_ordered_ops():
            if op.get_type_name() == "MatMul":
                left = list(op.get_input_partial_shape(0).to_shape())
                inner = left[-2] if op.get_attributes().get("transpose_a") else left[-1]
                total += 2 * math.prod(op.get_output_partial_shape(0).to_shape()) * inner
            elif op.get_type_name() == "ScaledDotProductAttention":  # the converter fuses attention's two
                query, key, value = (list(op.get_input_partial_shape(i).to_shape()) for i in range(3))
                batch_heads, queries, keys = math.prod(query[:-2]), query[-2], key[-2]
                total += 2 * batch_heads * queries * keys * (query[-1] + value[-1])  # Q K^T, then P V
        return total


def random_batch(batch: int, seq_len: int, vocab_size: int, seed: int = 0) -> dict:
    """Inputs of real shape and dtype: ids drawn past the special tokens, every position a real token."""
    rng = np.random.default_rng(seed)
    return {"input_ids": rng.integers(1000 if vocab_size > 2000 else 5, vocab_size, (batch, seq_len)).astype(np.int32),
            "input_mask": np.ones((batch, seq_len), np.int32), "segment_ids": np.zeros((batch, seq_len), np.int32)}


def latency_ms(run, arrays: dict, seconds: float, min_runs: int = 10) -> dict:
    """p50/p95 of `run(arrays)` in ms, repeated for about `seconds` after 3 warm-up runs."""
    for _ in range(3):
        run(arrays)
    times, deadline = [], time.perf_counter() + seconds
    while len(times) < min_runs or time.perf_counter() < deadline:
        started = time.perf_counter()
        run(arrays)
        times.append((time.perf_counter() - started) * 1000)
    return {**_p50_p95(times), "runs": len(times)}


def review_latency_ms(classifier, texts: list) -> dict:
    """p50/p95 in ms of `classifier.predict([text])`, one review at a time as `bertvino classify` runs it
    (tokenization included), after 3 warm-up calls."""
    for text in texts[:3]:
        classifier.predict([text])
    times = []
    for text in texts:
        started = time.perf_counter()
        classifier.predict([text])
        times.append((time.perf_counter() - started) * 1000)
    return {**_p50_p95(times), "reviews": len(times)}


def _p50_p95(times_ms: list) -> dict:
    """The median and the 95th percentile (nearest rank) of timings in ms, rounded to 0.01 ms."""
    times_ms = sorted(times_ms)
    return {"p50_ms": round(statistics.median(times_ms), 2),
            "p95_ms": round(times_ms[min(len(times_ms) - 1, int(0.95 * len(times_ms)))], 2)}


def openvino_throughput(compiled, arrays: dict, seconds: float) -> float:
    """Sequences/s with OpenVINO's async queue full (THROUGHPUT-compiled model), over about `seconds`."""
    import openvino as ov

    queue = ov.AsyncInferQueue(compiled, 0)
    for _ in range(len(queue)):  # warm-up: one round per request
        queue.start_async(arrays)
    queue.wait_all()
    batches, started = 0, time.perf_counter()
    while time.perf_counter() - started < seconds:
        queue.start_async(arrays)
        batches += 1
    queue.wait_all()
    return batches * len(arrays["input_ids"]) / (time.perf_counter() - started)


def synchronous_throughput(run, arrays: dict, seconds: float) -> float:
    """Sequences/s calling `run(arrays)` back to back (for TensorFlow, which has no async queue)."""
    run(arrays)
    batches, started = 0, time.perf_counter()
    while batches < 2 or time.perf_counter() - started < seconds:
        run(arrays)
        batches += 1
    return batches * len(arrays["input_ids"]) / (time.perf_counter() - started)


def compile_for(core, model_xml, device: str, hint: str, inference_precision: str):
    from bertvino.infer.classifier import compile_config
    return core.compile_model(str(model_xml), device, compile_config(device, hint, inference_precision))


def openvino_runner(compiled):
    output = compiled.output(OUTPUT_NAME)
    return lambda arrays: compiled(arrays)[output]


# Instruction-set extensions that change which precision is fast.
NOTABLE_FLAGS = ("avx2", "avx512f", "avx512_vnni", "avx_vnni", "avx512_bf16", "amx_bf16", "amx_int8")


def describe_machine() -> dict:
    """CPU model, cores, the instruction sets that decide which precision is fast, and versions."""
    model, flags = platform.processor(), set()
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.is_file():
        for line in cpuinfo.read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
            elif line.startswith("flags"):
                flags = set(line.split(":", 1)[1].split())
    import openvino
    return {"cpu": model, "cores": os.cpu_count(), "cpu_flags": [f for f in NOTABLE_FLAGS if f in flags],
            "python": platform.python_version(), "openvino": openvino.__version__, "numpy": np.__version__}
