"""Measuring speed against the machine's limit: latency, throughput, each arithmetic's own peak, and the engine's
ceiling beside the whole pipeline.

The peak of an arithmetic (f32, bf16, int8) is the rate OpenVINO itself reaches on one large MatMul in it, on this
machine, in the same run: what its kernels can do on these cores, not what NumPy's sgemm does (OpenVINO's f32
MatMul is about twice NumPy's here, and bf16 and int8 faster again). A row's share of the peak is the IR's MatMul
FLOPs at that length (counted from the IR itself) times its throughput, over the peak of the arithmetic it ran in.
Other work (LayerNorm, softmax, GELU) is left out, so no real run reaches 100 %.

The engine's ceiling is the IR alone on pre-made inputs through AsyncInferQueue, as OpenVINO's benchmark_app
measures it; the pipeline adds what `bertvino score` adds: WordPiece, padding and Python. Their ratio is what
those cost.

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


def matmul_model(size: int, int8: bool):
    """[size, size] @ [size, size] as an OpenVINO model; with `int8`, both operands pass through FakeQuantize,
    which the CPU plugin runs as an int8 (u8 x i8) MatMul, as it does NNCF's quantized layers."""
    import openvino as ov
    import openvino.opset13 as ops

    activations = ops.parameter([size, size], ov.Type.f32, name="activations")
    weights = ops.constant(np.random.default_rng(0).standard_normal((size, size)).astype(np.float32))
    left, right = activations, weights
    if int8:
        low, high = ops.constant(np.float32(-4)), ops.constant(np.float32(4))
        left = ops.fake_quantize(activations, low, high, low, high, 256)
        right = ops.fake_quantize(weights, low, high, low, high, 255)
    return ov.Model([ops.matmul(left, right, False, False)], [activations], f"matmul-{size}")


def matmul_peak(core, arithmetic: str, device: str = "CPU", size: int = 2048, seconds: float = 2.0) -> float:
    """GFLOP/s (GOP/s for int8) that OpenVINO reaches on a `size`-cube MatMul in `arithmetic` (f32, bf16, int8),
    with every core busy (THROUGHPUT hint, the async queue full)."""
    from bertvino.infer.classifier import compile_config

    model = matmul_model(size, int8=(arithmetic == "int8"))
    compiled = core.compile_model(model, device, compile_config(device, "THROUGHPUT", "bf16" if arithmetic == "bf16"
                                                                else "f32"))
    arrays = {"activations": np.random.default_rng(1).standard_normal((size, size)).astype(np.float32)}
    runs_per_s = openvino_throughput(compiled, arrays, seconds) / size  # openvino_throughput counts rows
    return 2 * size ** 3 * runs_per_s / 1e9


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
    """Sequences (rows of the first input) per second with OpenVINO's async queue full (THROUGHPUT-compiled
    model) on the same pre-made inputs, over about `seconds`: the engine alone, as benchmark_app measures it."""
    import openvino as ov

    queue = ov.AsyncInferQueue(compiled, 0)
    for _ in range(len(queue)):  # warm-up: one round per request
        queue.start_async(arrays)
    queue.wait_all()
    batches, started = 0, time.perf_counter()
    while batches < len(queue) or time.perf_counter() - started < seconds:
        queue.start_async(arrays)
        batches += 1
    queue.wait_all()
    return batches * len(next(iter(arrays.values()))) / (time.perf_counter() - started)


def pipeline_throughput(classifier, texts: list, batch_size: int, seconds: float) -> float:
    """Texts per second through what `bertvino score` runs: WordPiece, padding, the async queue, the head."""
    from bertvino.infer.classifier import AsyncBatches

    runner = AsyncBatches(classifier, lambda *finished: None)
    batches = [texts[start:start + batch_size] for start in range(0, len(texts), batch_size)]
    for batch in batches[:2]:  # warm-up
        runner.submit(classifier.encode_batch(batch), None)
    runner.wait()
    done, started = 0, time.perf_counter()
    while done < 2 * len(batches[0]) or time.perf_counter() - started < seconds:
        batch = batches[(done // batch_size) % len(batches)]
        runner.submit(classifier.encode_batch(batch), None)
        done += len(batch)
    runner.wait()
    return done / (time.perf_counter() - started)


def texts_of_length(tokenizer, seq_len: int, count: int, seed: int = 0) -> list:
    """`count` texts of whole vocabulary words that encode to exactly `seq_len` ids with [CLS] and [SEP], so the
    pipeline is timed at the engine's shapes with real tokenization work."""
    words = sorted(w for w in tokenizer.vocab if w.isascii() and w.isalpha() and w.islower() and len(w) >= 3)
    rng = np.random.default_rng(seed)
    return [" ".join(rng.choice(words, seq_len - 2)) for _ in range(count)]


def synchronous_throughput(run, arrays: dict, seconds: float) -> float:
    """Sequences/s calling `run(arrays)` back to back (for TensorFlow, which has no async queue)."""
    run(arrays)
    batches, started = 0, time.perf_counter()
    while batches < 2 or time.perf_counter() - started < seconds:
        run(arrays)
        batches += 1
    return batches * len(arrays["input_ids"]) / (time.perf_counter() - started)


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
