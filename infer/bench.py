"""`bertvino bench`, and the measuring every benchmark shares: latency, throughput, and the compute floor.

For each engine (OpenVINO with the bundle's IR, with FP16 and INT8 IRs made from its frozen graph, with bf16
arithmetic where the CPU has it, and TensorFlow on the same frozen graph when installed) and each sequence length,
`run` measures batch-1 latency p50/p95, throughput at `batch_size`, and the share of the compute floor reached;
then the cold start of `bertvino classify`: process start to exit, as a user sees it.

The compute floor of a sequence is the IR's MatMul FLOPs at that length (counted from the IR itself, reshaped to
the length) divided by the single-precision matrix-multiply rate NumPy reaches on this machine in this run. Other
work (LayerNorm, softmax, GELU, tokenization) is left out, so no real run reaches 100 %.

It lives in `infer/` because it measures the inference runtime with the runtime's own compile settings, needing
only OpenVINO and NumPy: the other precisions' IRs come from `bertvino.convert.ir` (no TensorFlow), and the
TensorFlow baseline (`bertvino.convert.tf_runtime`) is imported only for its own rows. The scripts in
`benchmarks/` take their timing and machine description from here too, so every number is measured one way.
"""

import functools
import math
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from bertvino.bundle import INPUT_NAMES, OUTPUT_NAME, load_bundle
from bertvino.config import BertConfig
from bertvino.errors import missing_extra


# --- the bench command -------------------------------------------------------------------------------------------

def run(bundle_dir, lengths=(64, 128, 256, 512), precisions=("fp32", "fp16", "int8"), batch_size=8,
        seconds=3.0, calibration=None, calibration_split=None, with_tensorflow=True, device="CPU",
        progress=print) -> dict:
    import openvino as ov

    bundle = load_bundle(bundle_dir)
    core = ov.Core()
    notes = []
    lengths = [n for n in lengths if n <= _max_positions(bundle)]
    gflops = sgemm_gflops()
    progress(f"NumPy float32 matrix multiply: {gflops:.0f} GFLOP/s (the floor's rate)")
    flops = FlopCounter(bundle.model_xml)
    rows = []

    with tempfile.TemporaryDirectory(prefix="bertvino-bench-") as tmp:
        engines = _openvino_engines(bundle, precisions, calibration, calibration_split, Path(tmp), core, notes,
                                    progress)
        for name, model_xml, inference_precision in engines:
            latency_model = compile_for(core, model_xml, device, "LATENCY", inference_precision)
            throughput_model = compile_for(core, model_xml, device, "THROUGHPUT", inference_precision)
            for seq_len in lengths:
                latency = latency_ms(openvino_runner(latency_model), random_batch(1, seq_len, bundle.vocab_size),
                                     seconds)
                throughput = openvino_throughput(
                    throughput_model, random_batch(batch_size, seq_len, bundle.vocab_size), seconds)
                rows.append(_row(name, seq_len, latency, throughput, flops(seq_len), gflops))
                progress(_describe(rows[-1]))
        if with_tensorflow:
            rows += _tensorflow_rows(bundle, lengths, batch_size, seconds, flops, gflops, notes, progress)

    return {"bundle": str(bundle.path.resolve()), "bundle_precision": bundle.precision, "device": device,
            "batch_size": batch_size, "sgemm_gflops": round(gflops, 1), "rows": rows,
            "classify_cold_start_s": _cold_start(bundle.path), "notes": notes}


def _openvino_engines(bundle, precisions, calibration, calibration_split, tmp, core, notes, progress):
    """(name, model.xml, inference precision) for each IR to measure; other precisions are made from frozen.pb."""
    from bertvino.convert.ir import convert

    engines = [(f"OpenVINO {bundle.precision.upper()}", bundle.model_xml, "f32")]
    for precision in precisions:
        if precision == bundle.precision:
            continue
        if not bundle.frozen_graph.is_file():
            notes.append(f"{precision.upper()} not measured: the bundle has no frozen.pb to convert from")
            continue
        if precision == "int8" and not calibration:
            notes.append("INT8 not measured: it needs --calibration reviews")
            continue
        copy = tmp / precision
        shutil.copytree(bundle.path, copy, ignore=shutil.ignore_patterns("model.xml", "model.bin"))
        progress(f"converting a {precision.upper()} copy")
        convert(copy, precision=precision, calibration=calibration, calibration_split=calibration_split)
        engines.append((f"OpenVINO {precision.upper()}", copy / "model.xml", "f32"))
    if "BF16" in core.get_property("CPU", "OPTIMIZATION_CAPABILITIES"):
        engines.append((f"OpenVINO {bundle.precision.upper()}, bf16 arithmetic", bundle.model_xml, "bf16"))
    return engines


def _tensorflow_rows(bundle, lengths, batch_size, seconds, flops, gflops, notes, progress):
    try:
        from bertvino.convert.tf_runtime import FrozenGraph
        from bertvino.train.quiet_tf import import_tensorflow_quietly
        import_tensorflow_quietly()  # its start-up lines would land in the middle of the measurements
    except ImportError as err:
        notes.append(f"TensorFlow not measured: {missing_extra(err) or err}")
        return []
    if not bundle.frozen_graph.is_file():
        notes.append("TensorFlow not measured: the bundle has no frozen.pb")
        return []
    graph, rows = FrozenGraph(bundle.frozen_graph), []
    try:
        for seq_len in lengths:
            latency = latency_ms(graph.pooled, random_batch(1, seq_len, bundle.vocab_size), seconds)
            throughput = synchronous_throughput(
                graph.pooled, random_batch(batch_size, seq_len, bundle.vocab_size), seconds)
            rows.append(_row("TensorFlow (frozen.pb)", seq_len, latency, throughput, flops(seq_len), gflops))
            progress(_describe(rows[-1]))
    finally:
        graph.close()
    return rows


def _row(engine, seq_len, latency, throughput, flops, gflops) -> dict:
    floor_s = flops / (gflops * 1e9)
    return {"engine": engine, "seq_len": seq_len, "latency_p50_ms": latency["p50_ms"],
            "latency_p95_ms": latency["p95_ms"], "throughput_seq_per_s": round(throughput, 1),
            "gflop_per_seq": round(flops / 1e9, 3),
            "floor_pct_latency": round(100 * floor_s / (latency["p50_ms"] / 1000), 1),
            "floor_pct_throughput": round(100 * floor_s * throughput, 1)}


def _describe(row) -> str:
    return (f"{row['engine']:<36} {row['seq_len']:>4} tokens: p50 {row['latency_p50_ms']:7.2f} ms, "
            f"{row['throughput_seq_per_s']:7.1f} seq/s ({row['floor_pct_throughput']:.0f}% of floor)")


def _cold_start(bundle_path, repeats=3) -> float:
    """Median wall time in s of `bertvino classify -m BUNDLE TEXT` in a fresh process."""
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        subprocess.run([sys.executable, "-m", "bertvino", "classify", "-m", str(bundle_path), "A fine film."],
                       check=True, capture_output=True)
        times.append(time.perf_counter() - started)
    return percentiles(times, (50,), unit="s")["p50_s"]


def _max_positions(bundle) -> int:
    """The longest sequence the model takes: the bundle's bert_config.json says, else BERT's 512."""
    config = bundle.path / "bert_config.json"
    return BertConfig.from_json_file(config).max_position_embeddings if config.is_file() else 512


def markdown(results: dict, machine: dict | None = None) -> str:
    """The results as a Markdown table, with the machine and the notes."""
    lines = []
    if machine:
        lines.append(f"Machine: {machine['cpu']}, {machine['cores']} cores ({', '.join(machine['cpu_flags'])}); "
                     f"OpenVINO {machine['openvino'].split('-')[0]}.")
    lines += [f"Bundle: `{results['bundle']}`; throughput at batch {results['batch_size']}; NumPy float32 matmul "
              f"rate {results['sgemm_gflops']} GFLOP/s; cold start of `bertvino classify` "
              f"{results['classify_cold_start_s']} s.", "",
              "| engine | tokens | latency p50 (ms) | p95 (ms) | throughput (seq/s) | % of compute floor |",
              "| --- | ---: | ---: | ---: | ---: | ---: |"]
    for row in results["rows"]:
        lines.append(f"| {row['engine']} | {row['seq_len']} | {row['latency_p50_ms']} | {row['latency_p95_ms']} | "
                     f"{row['throughput_seq_per_s']} | {row['floor_pct_throughput']} |")
    lines += [f"\n- {note}" for note in results["notes"]]
    return "\n".join(lines) + "\n"


# --- measuring ------------------------------------------------------------------------------------------------

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
    ids = rng.integers(1000 if vocab_size > 2000 else 5, vocab_size, (batch, seq_len)).astype(np.int32)
    return dict(zip(INPUT_NAMES, (ids, np.ones((batch, seq_len), np.int32), np.zeros((batch, seq_len), np.int32))))


def latency_ms(run, arrays: dict, seconds: float, min_runs: int = 10) -> dict:
    """p50/p95 of `run(arrays)` in ms, repeated for about `seconds` after 3 warm-up runs."""
    for _ in range(3):
        run(arrays)
    times, deadline = [], time.perf_counter() + seconds
    while len(times) < min_runs or time.perf_counter() < deadline:
        started = time.perf_counter()
        run(arrays)
        times.append((time.perf_counter() - started) * 1000)
    return {**percentiles(times), "runs": len(times)}


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
    return {**percentiles(times), "reviews": len(times)}


def percentiles(times, quantiles=(50, 95), unit: str = "ms") -> dict:
    """{"p50_ms": ..., "p95_ms": ...}: percentiles of timings (NumPy's, interpolating between the two nearest),
    rounded to 0.01. Every benchmark computes its percentiles here, so p50s from different scripts compare."""
    return {f"p{q}_{unit}": round(float(np.percentile(times, q)), 2) for q in quantiles}


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
    return batches * len(arrays[INPUT_NAMES[0]]) / (time.perf_counter() - started)


def synchronous_throughput(run, arrays: dict, seconds: float) -> float:
    """Sequences/s calling `run(arrays)` back to back (for TensorFlow, which has no async queue)."""
    run(arrays)
    batches, started = 0, time.perf_counter()
    while batches < 2 or time.perf_counter() - started < seconds:
        run(arrays)
        batches += 1
    return batches * len(arrays[INPUT_NAMES[0]]) / (time.perf_counter() - started)


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
