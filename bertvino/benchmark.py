"""`bertvino bench`: one bundle's speed in every precision, against TensorFlow and against the compute floor.

For each engine (OpenVINO with the bundle's IR, with FP16 and INT8 IRs made from its frozen graph, with bf16
arithmetic where the CPU has it, and TensorFlow on the same frozen graph when installed) and each sequence length:
batch-1 latency p50/p95, throughput at `batch_size`, and the share of the compute floor reached (see
`bertvino.infer.bench`). Then the cold start of `bertvino classify`: process start to exit, as a user sees it.
TensorFlow is imported only for its own rows.
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


def run(bundle_dir, lengths=(64, 128, 256, 512), precisions=("fp32", "fp16", "int8"), batch_size=8,
        seconds=3.0, calibration=None, calibration_split=None, with_tensorflow=True, device="CPU",
        progress=print) -> dict:
    import openvino as ov

    bundle = load_bundle(bundle_dir)
    core = ov.Core()
    notes = []
    lengths = [n for n in lengths if n <= _max_positions(bundle)]
    gflops = bench.sgemm_gflops()
    progress(f"NumPy float32 matrix multiply: {gflops:.0f} GFLOP/s (the floor's rate)")
    flops = bench.FlopCounter(bundle.model_xml)
    rows = []

    with tempfile.TemporaryDirectory(prefix="bertvino-bench-") as tmp:
        engines = _openvino_engines(bundle, precisions, calibration, calibration_split, Path(tmp), core, notes,
                                    progress)
        for name, model_xml, inference_precision in engines:
            latency_model = bench.compile_for(core, model_xml, device, "LATENCY", inference_precision)
            throughput_model = bench.compile_for(core, model_xml, device, "THROUGHPUT", inference_precision)
            for seq_len in lengths:
                latency = bench.latency_ms(bench.openvino_runner(latency_model),
                                           bench.random_batch(1, seq_len, bundle.vocab_size), seconds)
                throughput = bench.openvino_throughput(
                    throughput_model, bench.random_batch(batch_size, seq_len, bundle.vocab_size), seconds)
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
