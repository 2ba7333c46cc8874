"""Where the INT8 path's time goes: OpenVINO's per-layer counters, and the int8 engine's share of the int8 peak.

    python benchmarks/int8_profile.py [-m models/imdb-minilm] [--lengths 128,256] [--batch 8] \
        [--variants int8,int8+bf16,bf16,f32] [--int8-ir NAME=PATH ...] [--rounds 5] [--out ...]

For each variant (an IR and the OpenVINO properties it is compiled with, `VARIANTS`) and each length:

1. **Speed**: the engine's throughput at batch `--batch` (THROUGHPUT hint, the async queue kept full on pre-made
   inputs, as `bertvino bench`'s engine rows), the variants interleaved, `--rounds` rounds, each keeping its best,
   under the timing lock (/tmp/bertvino-timing.lock).
2. **Profile**: the same IR compiled with `PERF_COUNT: True`, one infer request run `--profile-runs` times; each
   layer's fastest time of those runs (from `get_profiling_info()`: robust to a busy machine), summed by layer type
   and exec type (brgemm_avx512_amx, brgemm_avx512_I8, jit_avx512_bf16,
   ref_any_f32, ...), each group's share of the executed time; and each matrix product of the model (the
   FullyConnected layers and the two inside each attention block) with the precision it ran in
   (`runtimePrecision` of the runtime model's node that holds it).

The peak, and the share of it (the definitions every figure in docs/precision-and-speed.md uses):

    int8 peak P       GOP/s that OpenVINO reaches on one int8 MatMul of the BERT FFN's shape in the same run:
                      FakeQuantize(u8, 256 levels) activations [batch * 128, hidden] x FakeQuantize(i8, 255 levels)
                      weights [hidden, intermediate] (for the default model [1024, 384] x [384, 1536]), compiled
                      with the THROUGHPUT hint, the async queue full; ops = 2 * m * n * k per run.
    MatMul ops F(L)   2 * m * n * k summed over every matrix product of one sequence of L tokens, counted from the
                      IR (bench's FlopCounter: each MatMul, and Q K^T and P V of each attention block), whatever
                      precision it runs in.
    engine share      F(L) * T(L) / P, T(L) the variant's engine throughput in sequences/s: the share of int8 peak
                      the whole model sustains, counting all its matrix products as useful work (issue 20's
                      "int8's share of OpenVINO's own int8 MatMul peak"; `bertvino bench` holds int8 to its
                      2048-cube peak instead, which is a little higher).
    int8 kernel share F_int8(L) * T(L) / (t_int8 * P), F_int8 the ops of the products that ran in int8 and t_int8
                      the share of the profiled time spent in them: how fast the int8 MatMuls run while they run.

Measured while other jobs may run: the variants are interleaved and each keeps its best, so a burst of other work
lowers one sample, not one variant; the profile's shares are of one request's own time and are less affected.
"""

import argparse
import collections
import math
from pathlib import Path

import numpy as np

from bertvino.core.bundle import INPUT_NAMES, load_bundle
from bertvino.core.config import BertConfig
from bertvino.infer.bench import FlopCounter
from bertvino.infer.precision import compile_config, detect_capabilities
from bertvino.infer.timing import queue_throughput, random_batch
from common import RESULTS_DIR, measured_on, timing_lock, write_results


# name: (which IR, arithmetic hint for the float ops, the input shape it is compiled for (`input_shape`; False:
#        dynamic, as the IR is), extra OpenVINO properties)
VARIANTS = {
    "f32": ("float", "f32", False, {}),
    "bf16": ("float", "bf16", False, {}),
    "int8": ("int8", "f32", False, {}),            # what the int8 path compiled before this benchmark
    "int8+bf16": ("int8", "bf16", False, {}),      # the float ops NNCF left, in bf16
    "int8+bf16 static": ("int8", "bf16", "static", {}),  # one compiled model per shape, known at compile time
    "int8 static": ("int8", "f32", "static", {}),
    "int8+bf16 static length": ("int8", "bf16", "length", {}),
    "int8+bf16 static batch": ("int8", "bf16", "batch", {}),
    "int8+bf16 bounded": ("int8", "bf16", "bounded", {}),
    "int8+bf16 1 stream": ("int8", "bf16", False, {"NUM_STREAMS": 1}),  # both cores on one request
    "int8+bf16 latency": ("int8", "bf16", False, {"PERFORMANCE_HINT": "LATENCY"}),
}


def input_shape(kind: str, batch: int, length: int):
    """The shape a variant is compiled for: "static" [batch, L]; "length" [any, L]; "batch" [batch, any];
    "bounded" [1..4*batch, 1..256]."""
    import openvino as ov

    return {"static": ov.PartialShape([batch, length]), "length": ov.PartialShape([-1, length]),
            "batch": ov.PartialShape([batch, -1]),
            "bounded": ov.PartialShape([ov.Dimension(1, 4 * batch), ov.Dimension(1, 256)])}[kind]


def ffn_matmul_model(rows: int, hidden: int, intermediate: int):
    """FakeQuantize -> MatMul of the FFN's shape, as NNCF quantizes one: u8 activations, i8 weights."""
    import openvino as ov
    import openvino.opset13 as ops

    rng = np.random.default_rng(0)
    activations = ops.parameter([rows, hidden], ov.Type.f32, name="activations")
    weights = ops.constant(rng.standard_normal((hidden, intermediate)).astype(np.float32))
    zero, high, low = (ops.constant(np.float32(v)) for v in (0, 4, -4))
    left = ops.fake_quantize(activations, zero, high, zero, high, 256)  # asymmetric u8, as NNCF's MIXED preset
    right = ops.fake_quantize(weights, low, high, low, high, 255)  # symmetric i8 weights
    return ov.Model([ops.matmul(left, right, False, False)], [activations], "ffn-int8")


class Int8Peak:
    """The FFN-shaped int8 MatMul, compiled once, sampled between the variants' samples (so it sees the same
    machine they do); `gops` is its best sample."""

    def __init__(self, core, rows: int, hidden: int, intermediate: int):
        import openvino as ov

        config = compile_config("CPU", "THROUGHPUT", "f32")
        config.pop("CACHE_DIR", None)
        compiled = core.compile_model(ffn_matmul_model(rows, hidden, intermediate), "CPU", config)
        self.queue = ov.AsyncInferQueue(compiled, 0)
        self.arrays = {"activations": np.abs(np.random.default_rng(1).standard_normal((rows, hidden)))
                       .astype(np.float32)}
        self.ops_per_run = 2 * rows * hidden * intermediate
        self.rows, self.gops = rows, 0.0
        queue_throughput(self.queue, self.arrays, 0)  # warm-up

    def sample(self, seconds: float):
        runs_per_s = queue_throughput(self.queue, self.arrays, seconds) / self.rows  # it counts input rows
        self.gops = max(self.gops, self.ops_per_run * runs_per_s / 1e9)


def read_variant(core, bundle, variant: str, extra_irs: dict, batch: int, length: int):
    """(model, OpenVINO properties) for a variant at one length."""
    if variant in extra_irs:  # another INT8 IR (e.g. quantized with other NNCF settings), int8+bf16's settings
        xml, hint, static, extra = extra_irs[variant], "bf16", False, {}
    else:
        which, hint, static, extra = VARIANTS[variant]
        xml = bundle.int8_xml if which == "int8" else bundle.model_xml
    model = core.read_model(str(xml))
    if static:
        model.reshape({name: input_shape(static, batch, length) for name in INPUT_NAMES})
    config = compile_config("CPU", "THROUGHPUT", hint)
    config.pop("CACHE_DIR", None)  # compiled fresh: the profile must describe this OpenVINO's own choices
    return model, {**config, **extra}


def matmul_ops(model_xml, batch: int, length: int) -> tuple:
    """({MatMul or attention op name: 2*m*n*k} for one batch, {the attention ops' names}), from the IR reshaped
    to [batch, length]."""
    import openvino as ov

    model = ov.Core().read_model(str(model_xml))
    model.reshape({name: ov.PartialShape([batch, length]) for name in INPUT_NAMES})
    ops, attention = {}, set()
    for op in model.get_ordered_ops():
        if op.get_type_name() == "MatMul":
            left = list(op.get_input_partial_shape(0).to_shape())
            inner = left[-2] if op.get_attributes().get("transpose_a") else left[-1]
            ops[op.get_friendly_name()] = 2 * math.prod(op.get_output_partial_shape(0).to_shape()) * inner
        elif op.get_type_name() == "ScaledDotProductAttention":
            query, key, value = (list(op.get_input_partial_shape(i).to_shape()) for i in range(3))
            ops[op.get_friendly_name()] = 2 * math.prod(query[:-2]) * query[-2] * key[-2] * (query[-1] + value[-1])
            attention.add(op.get_friendly_name())
    return ops, attention


def profile(compiled, arrays: dict, runs: int, ops_by_name: dict, attention: set) -> dict:
    """Per-layer counters of `runs` inferences of one request, grouped; and each matrix product's precision."""
    runtime = {}  # runtime node name -> (its precision, the original ops it holds)
    for node in compiled.get_runtime_model().get_ordered_ops():
        info = node.get_rt_info()
        runtime[node.get_friendly_name()] = (info["runtimePrecision"].astype(str),
                                             info["originalLayersNames"].astype(str).split(","))
    request = compiled.create_infer_request()
    request.infer(arrays)  # first run: shape-dependent kernel builds, not steady state
    fastest, kinds = {}, {}  # each layer's fastest run: a neighbour's burst slows some runs of a layer, not all
    for _ in range(runs):
        request.infer(arrays)
        for layer in request.get_profiling_info():
            if layer.status.name == "EXECUTED":
                seconds = layer.real_time.total_seconds()
                fastest[layer.node_name] = min(seconds, fastest.get(layer.node_name, seconds))
                kinds[layer.node_name] = (layer.node_type, layer.exec_type)
    groups, nodes = collections.defaultdict(float), fastest
    for name, seconds in fastest.items():
        groups[kinds[name]] += seconds
    total = sum(groups.values())
    products = collections.defaultdict(lambda: {"ops": 0, "s": 0.0, "count": 0})
    claimed = set()
    for name, seconds in nodes.items():
        precision, originals = runtime.get(name, ("", []))
        # OpenVINO names a FullyConnected after the bias Add it absorbed ("query/BiasAdd"): its MatMul is "query/MatMul"
        candidates = originals + [o.rsplit("/", 1)[0] + "/MatMul" for o in originals if o.endswith("/BiasAdd")]
        held = [o for o in dict.fromkeys(candidates) if o in ops_by_name and o not in claimed]
        if not held:
            continue
        claimed.update(held)
        # attention blocks (Subgraph/MHA) hold Q K^T and P V; the node's precision is that of its inputs
        kind = ("attention " if any(o in attention for o in held) else "dense ") + (
            "int8" if precision.lower() in ("i8", "u8") else "float")
        products[kind]["ops"] += sum(ops_by_name[o] for o in held)
        products[kind]["s"] += seconds
        products[kind]["count"] += len(held)
    unmapped = sum(ops for name, ops in ops_by_name.items() if name not in claimed)
    return {"ms_per_batch": round(1e3 * total, 2),
            "groups": [{"layer": layer, "exec": exec_type, "ms": round(1e3 * s, 3),
                        "share": round(s / total, 4)}
                       for (layer, exec_type), s in sorted(groups.items(), key=lambda kv: -kv[1]) if s > 0],
            "matmuls": {kind: {"products": p["count"], "gops_per_batch": round(p["ops"] / 1e9, 3),
                               "time_share": round(p["s"] / total, 4)} for kind, p in sorted(products.items())},
            "unmapped_gops": round(unmapped / 1e9, 3)}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-m", "--model", default="models/imdb-minilm")
    parser.add_argument("--lengths", default="128,256")
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--variants", default="int8,int8+bf16,bf16,f32",
                        help=f"comma-separated, from: {', '.join(VARIANTS)}")
    parser.add_argument("--int8-ir", action="append", default=[], metavar="NAME=XML",
                        help="another INT8 IR to profile as a variant NAME (compiled as int8+bf16)")
    parser.add_argument("--rounds", type=int, default=10, help="interleaved timing rounds; each variant's best")
    parser.add_argument("--seconds", type=float, default=0.5, help="per timing sample")
    parser.add_argument("--profile-runs", type=int, default=20)
    parser.add_argument("--out", default=str(RESULTS_DIR / "int8_profile.json"))
    args = parser.parse_args()
    import openvino as ov

    bundle, core = load_bundle(args.model), ov.Core()
    extra_irs = dict(item.split("=", 1) for item in args.int8_ir)
    variants = [v for v in args.variants.split(",") if v] + list(extra_irs)
    unknown = [v for v in variants if v not in VARIANTS and v not in extra_irs]
    if unknown:
        parser.error(f"unknown variant(s) {', '.join(unknown)}: choose from {', '.join(VARIANTS)}")
    lengths = [int(n) for n in args.lengths.split(",")]
    capabilities = detect_capabilities(core)
    config = BertConfig.from_json_file(bundle.path / "bert_config.json")
    hidden, intermediate = config.hidden_size, config.intermediate_size

    peak_rows = args.batch * 128
    peak = Int8Peak(core, peak_rows, hidden, intermediate)
    flops = FlopCounter(bundle.model_xml)

    results = {"model": args.model, "batch": args.batch, "cpu_flags_that_matter": {
        "amx": list(capabilities.amx), "fast_int8": list(capabilities.fast_int8),
        "native_bf16": capabilities.native_bf16},
        "int8_peak": {"shape": f"[{peak_rows}, {hidden}] x [{hidden}, {intermediate}]"}, "rows": [], **measured_on()}
    rows = []
    for length in lengths:
        arrays = random_batch(args.batch, length, bundle.vocab_size)
        compiled, queues, profiles = {}, {}, {}
        for variant in variants:
            model, properties = read_variant(core, bundle, variant, extra_irs, args.batch, length)
            compiled[variant] = core.compile_model(model, "CPU", properties)
            queues[variant] = ov.AsyncInferQueue(compiled[variant], 0)
            queue_throughput(queues[variant], arrays, 0)  # warm-up: each request once at this shape
            profiled = core.compile_model(model, "CPU", {**properties, "PERF_COUNT": True})
            xml = extra_irs.get(variant) or (bundle.int8_xml if "int8" in variant else bundle.model_xml)
            profiles[variant] = profile(profiled, arrays, args.profile_runs, *matmul_ops(xml, args.batch, length))
            del profiled
        best = dict.fromkeys(variants, 0.0)
        for _ in range(args.rounds):
            for variant in variants:  # interleaved, the peak among them
                with timing_lock():
                    best[variant] = max(best[variant], queue_throughput(queues[variant], arrays, args.seconds))
                    peak.sample(args.seconds / 2)
        for variant in variants:
            rows.append({"variant": variant, "length": length, "seq_per_s": round(best[variant], 1),
                         "streams": compiled[variant].get_property("NUM_STREAMS"),
                         "threads": compiled[variant].get_property("INFERENCE_NUM_THREADS"),
                         "matmul_gops_per_seq": round(flops(length) / 1e9, 4), "profile": profiles[variant]})
            print(f"{variant} {length} tokens: {best[variant]:.1f} seq/s", flush=True)
        del queues, compiled
    results["int8_peak"]["gops"] = round(peak.gops, 1)  # the best of every sample, then every share against it
    for row in rows:
        dense = row["profile"]["matmuls"].get("dense int8")  # the peak is a dense product: attention held apart
        row["engine_share_of_int8_peak"] = round(row["matmul_gops_per_seq"] * row["seq_per_s"] / peak.gops, 3)
        row["int8_kernel_share_of_peak"] = (round(dense["gops_per_batch"] / results["batch"] * row["seq_per_s"]
                                                  / (dense["time_share"] * peak.gops), 3)
                                            if dense and dense["time_share"] else None)
        results["rows"].append(row)
        print(describe(row), flush=True)
    write_results(args.out, results, markdown(results))
    print(f"wrote {Path(args.out).with_suffix('.json')} and .md")


def products(row) -> str:
    """"dense int8 37 (70 %), attention int8 6 (12 %)": each kind of matrix product, how many, its share of time."""
    return ", ".join(f"{kind} {m['products']} ({100 * m['time_share']:.0f} %)"
                     for kind, m in row["profile"]["matmuls"].items())


def describe(row) -> str:
    return (f"{row['variant']:>20s} {row['length']:4d} tokens: {row['seq_per_s']:7.1f} seq/s, "
            f"{100 * row['engine_share_of_int8_peak']:5.1f} % of int8 peak; products: {products(row)}")


def markdown(results) -> str:
    lines = [f"# INT8 profile ({results['machine']['cpu']}, OpenVINO {results['machine']['openvino']})", "",
             f"`{results['command']}`", "",
             f"int8 peak: {results['int8_peak']['gops']} GOP/s on {results['int8_peak']['shape']}", "",
             "| variant | tokens | seq/s | engine share of int8 peak | int8 kernel share | matrix products (count, "
             "share of time) | streams x threads |", "| --- | ---: | ---: | ---: | ---: | --- | --- |"]
    for row in results["rows"]:
        kernel = f"{100 * row['int8_kernel_share_of_peak']:.0f} %" if row["int8_kernel_share_of_peak"] else "-"
        lines.append(f"| {row['variant']} | {row['length']} | {row['seq_per_s']} | "
                     f"{100 * row['engine_share_of_int8_peak']:.0f} % | {kernel} | {products(row)} | "
                     f"{row['streams']} x {row['threads']} |")
    for row in results["rows"]:
        lines += ["", f"## {row['variant']}, {row['length']} tokens ({row['profile']['ms_per_batch']} ms per batch of "
                      f"{results['batch']}, one request, each layer's fastest run)", "", "| layer type | exec type | ms | share |",
                  "| --- | --- | ---: | ---: |"]
        lines += [f"| {g['layer']} | {g['exec']} | {g['ms']} | {100 * g['share']:.1f} % |"
                  for g in row["profile"]["groups"] if g["share"] >= 0.005]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
