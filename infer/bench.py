"""`bertvino bench`, and the measuring every benchmark shares: latency, throughput, each arithmetic's own peak,
and the engine's ceiling beside the whole pipeline.

For each precision path (f32; bf16 where the CPU has it natively; int8 with the bundle's INT8 IR, or one quantized
in the run from its float IR) and each sequence length, `run` measures batch-1 latency p50/p95; the engine's
ceiling (the IR alone on pre-made inputs through AsyncInferQueue, as OpenVINO's benchmark_app measures it); the
pipeline (texts of that length through WordPiece, padding and the same queue, as `bertvino score` runs them; their
ratio is what tokenization, padding and Python cost); and the engine's share of the peak of the arithmetic it used.
TensorFlow on the bundle's frozen.pb, when both exist, is held to the f32 peak. Then the cold start of `bertvino
classify`: process start to exit, as a user sees it.

The peak of an arithmetic (f32, bf16, int8) is the rate OpenVINO itself reaches on one large MatMul in it, on this
machine, in the same run: what its kernels can do on these cores, not what NumPy's sgemm does (OpenVINO's f32
MatMul is about twice NumPy's on a Zen 5, and bf16 and int8 faster again). A row's share of the peak is the IR's
MatMul FLOPs at that length (counted from the IR itself) times its throughput, over that peak. Other work
(LayerNorm, softmax, GELU) is left out, so no real run reaches 100 %.

It lives in `infer/` because it measures the inference runtime with the runtime's own compile settings, needing
only OpenVINO and NumPy. What needs an upstream stage is handed in by the caller (the CLI): `quantize` (convert's
NNCF step, for an INT8 IR made in the run) and `open_frozen_graph` (convert's TensorFlow runner, for the baseline
rows), so this module imports neither NNCF nor TensorFlow; matplotlib (the `bench` extra) only for the chart. The scripts in `benchmarks/` take their timing and machine description from here too, so every number is
measured one way.
"""

import functools
import math
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from ..core.bundle import INPUT_NAMES, OUTPUT_NAME, load_bundle
from ..core.config import BertConfig
from ..core.errors import missing_extra
from .precision import PATHS
from .timing import queue_throughput, random_batch  # noqa: F401  (random_batch: the benchmarks' too)


# --- the bench command -------------------------------------------------------------------------------------------

ARITHMETIC = {"f32": "f32", "bf16": "bf16", "int8": "int8", "TensorFlow": "f32"}  # the peak each path is held to


def run(bundle_dir, lengths=(64, 128, 256, 512), paths=PATHS, batch_size=8, seconds=3.0, calibration=None,
        calibration_split=None, quantize=None, open_frozen_graph=None, device="CPU", progress=print) -> dict:
    """Measure every path at every length. `quantize(bundle_dir, calibration, calibration_split=...)` makes an
    INT8 IR when the bundle has none; `open_frozen_graph(frozen_pb)` -> an object with `pooled(arrays)` and
    `close()` adds TensorFlow's rows. Either may be None (not measured, with a note)."""
    with_tensorflow = open_frozen_graph is not None
    import openvino as ov

    from . import autotune
    from .classifier import Classifier
    from .precision import choose_precision, detect_capabilities, usable_paths

    bundle = original = load_bundle(bundle_dir)
    core = ov.Core()
    capabilities, notes, rows = detect_capabilities(core), [], []
    auto = choose_precision(capabilities, bundle)
    if device == "CPU" and len(usable := usable_paths(capabilities, bundle)[0]) > 1:  # bench refreshes auto's table
        progress(f"measuring auto's paths ({', '.join(usable)}) for the cache")
        table, where = autotune.measure_and_save(bundle, capabilities, usable, core, device)
        auto = choose_precision(capabilities, bundle, measured=table["seq_per_s"])
        notes.append(f"auto's table refreshed ({where}): " + ", ".join(f"{path} {speed} seq/s" for path, speed
                                                                       in table["seq_per_s"].items()))
    paths = [auto.path if path == "auto" else path for path in paths]
    paths = list(dict.fromkeys(paths))  # "auto,int8" on a machine where auto is int8: measure it once
    if "bf16" in paths and not capabilities.native_bf16:
        paths.remove("bf16")
        notes.append("bf16 not measured: this CPU has no native bf16 (OpenVINO would emulate it, slowly)")
    lengths = [n for n in lengths if n <= _max_positions(bundle)]
    if any(n > bundle.max_seq_length for n in lengths):
        notes.append(f"pipeline not measured past the bundle's max_seq_length ({bundle.max_seq_length}): classify "
                     f"and score truncate there, so only the engine runs longer inputs")
    flops = FlopCounter(bundle.model_xml)

    with tempfile.TemporaryDirectory(prefix="bertvino-bench-") as tmp:
        if "int8" in paths and not bundle.has_int8_ir:
            bundle = _with_int8_ir(bundle, quantize, calibration, calibration_split, Path(tmp), notes, progress)
            if not bundle.has_int8_ir:
                paths.remove("int8")
        peaks = {}
        for arithmetic in [*paths, *(["f32"] if with_tensorflow else [])]:
            if arithmetic not in peaks:
                peaks[arithmetic] = matmul_peak(core, arithmetic, device, seconds=min(seconds, 2.0))
                progress(f"OpenVINO {arithmetic} MatMul peak: {peaks[arithmetic]:.0f} G{_ops(arithmetic)}/s")
        for path in paths:
            latency_model = Classifier(bundle, device, "LATENCY", precision=path)
            throughput_model = Classifier(bundle, device, "THROUGHPUT", precision=path)
            for seq_len in lengths:
                latency = latency_ms(_runner(latency_model.compiled),
                                           random_batch(1, seq_len, bundle.vocab_size), seconds)
                engine = openvino_throughput(throughput_model.compiled,
                                                   random_batch(batch_size, seq_len, bundle.vocab_size), seconds)
                pipeline = None  # past max_seq_length the pipeline truncates: it would time shorter inputs
                if seq_len <= bundle.max_seq_length:
                    texts = texts_of_length(throughput_model.tokenizer, seq_len, 4 * batch_size)
                    pipeline = pipeline_throughput(throughput_model, texts, batch_size, seconds)
                rows.append(_row(path, seq_len, latency, engine, pipeline, flops(seq_len), peaks[path]))
                progress(_describe(rows[-1]))
        if with_tensorflow:
            rows += _tensorflow_rows(bundle, open_frozen_graph, lengths, batch_size, seconds, flops, peaks.get("f32"),
                                     notes, progress)

    return {"bundle": str(original.path.resolve()), "bundle_precision": original.precision, "device": device,
            "batch_size": batch_size, "peaks": {k: round(v, 1) for k, v in peaks.items()},
            "auto": {"precision": auto.path, "why": auto.reason}, "rows": rows,
            "classify_cold_start_s": _cold_start(original.path), "peak_rss_mb": peak_rss_mb(), "notes": notes}


def _with_int8_ir(bundle, quantize, calibration, calibration_split, tmp, notes, progress):
    """The bundle, or a copy of it with an INT8 IR quantized from its float IR on `calibration` reviews."""
    if not calibration or quantize is None:
        notes.append("int8 not measured: the bundle has no INT8 IR; pass --calibration REVIEWS to make one")
        return bundle
    copy = tmp / bundle.path.name
    shutil.copytree(bundle.path, copy, ignore=shutil.ignore_patterns("frozen.pb"))
    progress("quantizing a copy of the float IR to INT8")
    quantize(copy, calibration, calibration_split=calibration_split)
    notes.append(f"int8: an INT8 IR quantized in this run from the float IR on {', '.join(map(str, calibration))}")
    return load_bundle(copy)


def _runner(compiled):
    output = compiled.output(0)
    return lambda arrays: compiled(arrays)[output]


def _tensorflow_rows(bundle, open_frozen_graph, lengths, batch_size, seconds, flops, peak, notes, progress):
    if not bundle.frozen_graph.is_file():
        notes.append("TensorFlow not measured: the bundle has no frozen.pb")
        return []
    try:
        graph, rows = open_frozen_graph(bundle.frozen_graph), []
    except ImportError as err:
        notes.append(f"TensorFlow not measured: {missing_extra(err) or err}")
        return []
    try:
        for seq_len in lengths:
            latency = latency_ms(graph.pooled, random_batch(1, seq_len, bundle.vocab_size), seconds)
            throughput = synchronous_throughput(
                graph.pooled, random_batch(batch_size, seq_len, bundle.vocab_size), seconds)
            rows.append(_row("TensorFlow", seq_len, latency, throughput, None, flops(seq_len), peak))
            progress(_describe(rows[-1]))
    finally:
        graph.close()
    return rows


def _row(path, seq_len, latency, engine, pipeline, flops, peak) -> dict:
    """One path at one length; shares of the peak in % (engine throughput, and batch-1 latency)."""
    seconds_at_peak = flops / (peak * 1e9)
    return {"path": path, "arithmetic": ARITHMETIC[path], "seq_len": seq_len,
            "latency_p50_ms": latency["p50_ms"], "latency_p95_ms": latency["p95_ms"],
            "engine_seq_per_s": round(engine, 1),
            "pipeline_seq_per_s": None if pipeline is None else round(pipeline, 1),
            "pipeline_pct_of_engine": None if pipeline is None else round(100 * pipeline / engine, 1),
            "gflop_per_seq": round(flops / 1e9, 3), "peak_pct": round(100 * seconds_at_peak * engine, 1),
            "peak_pct_latency": round(100 * seconds_at_peak / (latency["p50_ms"] / 1000), 1)}


def _describe(row) -> str:
    pipeline = "" if row["pipeline_seq_per_s"] is None else (f", pipeline {row['pipeline_seq_per_s']:7.1f} "
                                                             f"({row['pipeline_pct_of_engine']:.0f}% of engine)")
    return (f"{row['path']:<10} {row['seq_len']:>4} tokens: p50 {row['latency_p50_ms']:7.2f} ms, engine "
            f"{row['engine_seq_per_s']:7.1f} seq/s ({row['peak_pct']:.0f}% of the {row['arithmetic']} peak){pipeline}")


def _ops(arithmetic) -> str:
    return "OP" if arithmetic == "int8" else "FLOP"


def _cold_start(bundle_path, repeats=3) -> float:
    """Median wall time of `bertvino classify -m BUNDLE TEXT` in a fresh process."""
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        subprocess.run([sys.executable, "-m", "bertvino", "classify", "-m", str(bundle_path), "A fine film."],
                       check=True, capture_output=True)
        times.append(time.perf_counter() - started)
    return round(statistics.median(times), 2)


def _max_positions(bundle) -> int:
    """The longest sequence the model takes: the bundle's bert_config.json says, else BERT's 512."""
    config = bundle.path / "bert_config.json"
    return BertConfig.from_json_file(config).max_position_embeddings if config.is_file() else 512


def markdown(results: dict, machine: dict | None = None) -> str:
    """The results as a Markdown table, with the machine, the peaks and the notes."""
    lines = []
    if machine:
        lines.append(f"Machine: {machine['cpu']}, {machine['cores']} cores ({', '.join(machine['cpu_flags'])}); "
                     f"OpenVINO {machine['openvino'].split('-')[0]}.")
    peaks = ", ".join(f"{name} {value} G{_ops(name)}/s" for name, value in results["peaks"].items())
    lines += [f"Bundle: `{results['bundle']}`; throughput at batch {results['batch_size']}; OpenVINO MatMul peaks "
              f"measured in this run: {peaks}; `--precision auto` here: {results['auto']['precision']}; cold start "
              f"of `bertvino classify` {results['classify_cold_start_s']} s; peak RSS of the bench process "
              f"{results.get('peak_rss_mb', '?')} MB.", "",
              "| path | tokens | latency p50 (ms) | p95 (ms) | engine (seq/s) | pipeline (seq/s) | pipeline % of "
              "engine | % of own peak |",
              "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]
    for row in results["rows"]:
        pipeline = ["—", "—"] if row["pipeline_seq_per_s"] is None else [row["pipeline_seq_per_s"],
                                                                          row["pipeline_pct_of_engine"]]
        lines.append(f"| {row['path']} | {row['seq_len']} | {row['latency_p50_ms']} | {row['latency_p95_ms']} | "
                     f"{row['engine_seq_per_s']} | {pipeline[0]} | {pipeline[1]} | {row['peak_pct']} "
                     f"({row['arithmetic']}) |")
    lines += [f"\n- {note}" for note in results["notes"]]
    return "\n".join(lines) + "\n"


def chart(results: dict, png) -> str | None:
    """Latency and throughput by length, one line per path (engine solid, pipeline dashed), as a PNG. Returns
    a note instead when matplotlib is not installed."""
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        import matplotlib.ticker
    except ImportError:
        return "chart not drawn: matplotlib is not installed (pip install 'bertvino[bench]')"
    figure, (latency, throughput) = plt.subplots(1, 2, figsize=(11, 4.2))
    for path in dict.fromkeys(row["path"] for row in results["rows"]):
        rows = [row for row in results["rows"] if row["path"] == path]
        lengths = [row["seq_len"] for row in rows]
        line, = latency.plot(lengths, [row["latency_p50_ms"] for row in rows], marker="o", label=path)
        throughput.plot(lengths, [row["engine_seq_per_s"] for row in rows], marker="o", color=line.get_color(),
                        label=f"{path} engine")
        piped = [row for row in rows if row["pipeline_seq_per_s"] is not None]
        if piped:
            throughput.plot([row["seq_len"] for row in piped], [row["pipeline_seq_per_s"] for row in piped],
                            marker="x", linestyle="--", color=line.get_color(), label=f"{path} pipeline")
    for axes, title, unit in ((latency, "Batch-1 latency (p50)", "ms"),
                              (throughput, f"Throughput at batch {results['batch_size']}", "sequences/s")):
        axes.set(title=title, xlabel="tokens", ylabel=unit, xscale="log", yscale="log")
        lengths = sorted({row["seq_len"] for row in results["rows"]})
        axes.xaxis.set_minor_locator(matplotlib.ticker.NullLocator())  # only the measured lengths on the axis
        axes.set_xticks(lengths, labels=[str(n) for n in lengths])
        axes.grid(True, which="both", alpha=0.3)
        axes.legend(fontsize=8)
    figure.tight_layout()
    figure.savefig(png, dpi=110)
    plt.close(figure)
    return None

# --- measuring, shared by every benchmark ------------------------------------------------------------------------

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
    from .precision import compile_config

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
    """Sequences (rows of the first input) per second with OpenVINO's async queue full (THROUGHPUT-compiled
    model) on the same pre-made inputs, over about `seconds`: the engine alone, as benchmark_app measures it."""
    import openvino as ov

    queue = ov.AsyncInferQueue(compiled, 0)
    for _ in range(len(queue)):  # warm-up: one round per request
        queue.start_async(arrays)
    queue.wait_all()
    return queue_throughput(queue, arrays, seconds)


def pipeline_throughput(classifier, texts: list, batch_size: int, seconds: float) -> float:
    """Texts per second through what `bertvino score` runs: WordPiece, padding, the async queue, the head."""
    from .classifier import AsyncBatches

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


def compile_for(core, model_xml, device: str, performance_hint: str, arithmetic_hint: str):
    from .precision import compile_config
    return core.compile_model(str(model_xml), device, compile_config(device, performance_hint, arithmetic_hint,
                                                                     model_xml=model_xml))


def peak_rss_mb() -> float:
    """This process's peak resident memory so far, in MB (Linux reports ru_maxrss in KiB)."""
    import resource
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


def openvino_runner(compiled):
    output = compiled.output(OUTPUT_NAME)
    return lambda arrays: compiled(arrays)[output]


def synchronous_throughput(run, arrays: dict, seconds: float) -> float:
    """Sequences/s calling `run(arrays)` back to back (for TensorFlow, which has no async queue)."""
    run(arrays)
    batches, started = 0, time.perf_counter()
    while batches < 2 or time.perf_counter() - started < seconds:
        run(arrays)
        batches += 1
    return batches * len(arrays[INPUT_NAMES[0]]) / (time.perf_counter() - started)


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
