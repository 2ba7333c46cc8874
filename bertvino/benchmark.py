"""`bertvino bench`: one bundle's speed on every precision path, against each arithmetic's own peak.

For each path (`--precision`: f32, bf16 where the CPU has it natively, int8 with the bundle's INT8 IR or one made
from its float IR with `--calibration`) and each sequence length: batch-1 latency p50/p95; the engine's ceiling
(the IR alone on pre-made inputs through AsyncInferQueue, as benchmark_app measures it); the pipeline (texts of
that length through WordPiece, padding and the same queue, as `bertvino score` runs them); and the engine's share
of the peak of the arithmetic it used, measured by OpenVINO in this run (see `bertvino.infer.bench`). TensorFlow
on the bundle's frozen.pb, when both exist, is measured against the f32 peak. Then the cold start of `bertvino
classify`. TensorFlow is imported only for its own rows; matplotlib (the `bench` extra) only for the chart.
"""

import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bertvino.bundle import load_bundle
from bertvino.config import BertConfig
from bertvino.infer import bench

PATHS = ("f32", "bf16", "int8")
ARITHMETIC = {"f32": "f32", "bf16": "bf16", "int8": "int8", "TensorFlow": "f32"}  # the peak each path is held to


def run(bundle_dir, lengths=(64, 128, 256, 512), paths=PATHS, batch_size=8, seconds=3.0, calibration=None,
        calibration_split=None, with_tensorflow=True, device="CPU", progress=print) -> dict:
    import openvino as ov

    from bertvino.infer.classifier import Classifier
    from bertvino.precision import choose_precision, detect_capabilities

    bundle = original = load_bundle(bundle_dir)
    core = ov.Core()
    capabilities, notes, rows = detect_capabilities(core), [], []
    auto = choose_precision(capabilities, bundle)
    paths = [auto.precision if path == "auto" else path for path in paths]
    paths = list(dict.fromkeys(paths))  # "auto,int8" on a machine where auto is int8: measure it once
    if "bf16" in paths and not capabilities.native_bf16:
        paths.remove("bf16")
        notes.append("bf16 not measured: this CPU has no native bf16 (OpenVINO would emulate it, slowly)")
    lengths = [n for n in lengths if n <= _max_positions(bundle)]
    flops = bench.FlopCounter(bundle.model_xml)

    with tempfile.TemporaryDirectory(prefix="bertvino-bench-") as tmp:
        if "int8" in paths and not bundle.has_int8_ir:
            bundle = _with_int8_ir(bundle, calibration, calibration_split, Path(tmp), notes, progress)
            if not bundle.has_int8_ir:
                paths.remove("int8")
        peaks = {}
        for arithmetic in [*paths, *(["f32"] if with_tensorflow else [])]:
            if arithmetic not in peaks:
                peaks[arithmetic] = bench.matmul_peak(core, arithmetic, device, seconds=min(seconds, 2.0))
                progress(f"OpenVINO {arithmetic} MatMul peak: {peaks[arithmetic]:.0f} G{_ops(arithmetic)}/s")
        for path in paths:
            latency_model = Classifier(bundle, device, "LATENCY", precision=path)
            throughput_model = Classifier(bundle, device, "THROUGHPUT", precision=path)
            for seq_len in lengths:
                latency = bench.latency_ms(_runner(latency_model.compiled),
                                           bench.random_batch(1, seq_len, bundle.vocab_size), seconds)
                engine = bench.openvino_throughput(throughput_model.compiled,
                                                   bench.random_batch(batch_size, seq_len, bundle.vocab_size), seconds)
                texts = bench.texts_of_length(throughput_model.tokenizer, seq_len, 4 * batch_size)
                pipeline = bench.pipeline_throughput(throughput_model, texts, batch_size, seconds)
                rows.append(_row(path, seq_len, latency, engine, pipeline, flops(seq_len), peaks[path]))
                progress(_describe(rows[-1]))
        if with_tensorflow:
            rows += _tensorflow_rows(bundle, lengths, batch_size, seconds, flops, peaks.get("f32"), notes, progress)

    return {"bundle": str(original.path.resolve()), "bundle_precision": original.precision, "device": device,
            "batch_size": batch_size, "peaks": {k: round(v, 1) for k, v in peaks.items()},
            "auto": {"precision": auto.precision, "why": auto.reason}, "rows": rows,
            "classify_cold_start_s": _cold_start(original.path), "notes": notes}


def _with_int8_ir(bundle, calibration, calibration_split, tmp, notes, progress):
    """The bundle, or a copy of it with an INT8 IR quantized from its float IR on `calibration` reviews."""
    from bertvino.convert.ir import quantize

    if not calibration:
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


def _tensorflow_rows(bundle, lengths, batch_size, seconds, flops, peak, notes, progress):
    try:
        from bertvino.convert.tf_runtime import FrozenGraph
        import tensorflow  # noqa: F401
    except ImportError:
        notes.append("TensorFlow not measured: it is not installed (pip install 'bertvino[train]')")
        return []
    if not bundle.frozen_graph.is_file():
        notes.append("TensorFlow not measured: the bundle has no frozen.pb")
        return []
    graph, rows = FrozenGraph(bundle.frozen_graph), []
    try:
        for seq_len in lengths:
            latency = bench.latency_ms(graph.pooled, bench.random_batch(1, seq_len, bundle.vocab_size), seconds)
            throughput = bench.synchronous_throughput(
                graph.pooled, bench.random_batch(batch_size, seq_len, bundle.vocab_size), seconds)
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
              f"of `bertvino classify` {results['classify_cold_start_s']} s.", "",
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
    except ImportError:
        return "chart not drawn: matplotlib is not installed (pip install 'bertvino[bench]')"
    figure, (latency, throughput) = plt.subplots(1, 2, figsize=(11, 4.2))
    for path in dict.fromkeys(row["path"] for row in results["rows"]):
        rows = [row for row in results["rows"] if row["path"] == path]
        lengths = [row["seq_len"] for row in rows]
        line, = latency.plot(lengths, [row["latency_p50_ms"] for row in rows], marker="o", label=path)
        throughput.plot(lengths, [row["engine_seq_per_s"] for row in rows], marker="o", color=line.get_color(),
                        label=f"{path} engine")
        if rows[0]["pipeline_seq_per_s"] is not None:
            throughput.plot(lengths, [row["pipeline_seq_per_s"] for row in rows], marker="x", linestyle="--",
                            color=line.get_color(), label=f"{path} pipeline")
    for axes, title, unit in ((latency, "Batch-1 latency (p50)", "ms"),
                              (throughput, f"Throughput at batch {results['batch_size']}", "sequences/s")):
        axes.set(title=title, xlabel="tokens", ylabel=unit, xscale="log", yscale="log")
        axes.set_xticks(sorted({row["seq_len"] for row in results["rows"]}),
                        labels=[str(n) for n in sorted({row["seq_len"] for row in results["rows"]})])
        axes.grid(True, which="both", alpha=0.3)
        axes.legend(fontsize=8)
    figure.tight_layout()
    figure.savefig(png, dpi=110)
    plt.close(figure)
    return None
