"""What a compiled model per 32-token length bucket would cost `score`: compile time and peak memory.

    python benchmarks/static_buckets.py [-m models/imdb-minilm] [--batch 8] [--step 32]

int8_profile.py shows a static [batch, L] INT8 model running faster than the dynamic one at the same shape. To use
that, `score` would hold one compiled model per length bucket (32, 64, ... max_seq_length) instead of one dynamic
model. Each mode runs in a fresh process (peak RSS is per process): "dynamic" compiles the int8 path's IR once and
runs every bucket's shape through it, as `score` does now; "static" reshapes and compiles one model per bucket and
runs its shape. Both compile as the int8 path does (THROUGHPUT, its arithmetic hint), without OpenVINO's model
cache, so the seconds are a first run's.
"""

import argparse
import json
import resource
import subprocess
import sys
import time

from bertvino.core.bundle import INPUT_NAMES, load_bundle
from bertvino.infer.precision import compile_config, detect_capabilities, path_ir
from bertvino.infer.timing import random_batch
from common import RESULTS_DIR, measured_on, write_results


def run_mode(model_dir: str, mode: str, batch: int, step: int) -> dict:
    import openvino as ov

    core, bundle = ov.Core(), load_bundle(model_dir)
    xml, hint = path_ir(bundle, "int8", detect_capabilities(core).native_bf16)
    config = compile_config("CPU", "THROUGHPUT", hint)
    config.pop("CACHE_DIR", None)
    lengths = range(step, bundle.max_seq_length + 1, step)
    started, queues = time.perf_counter(), []
    if mode == "dynamic":
        queues = [ov.AsyncInferQueue(core.compile_model(str(xml), "CPU", config), 0)] * len(lengths)
    else:
        for length in lengths:
            model = core.read_model(str(xml))
            model.reshape({name: [batch, length] for name in INPUT_NAMES})
            queues.append(ov.AsyncInferQueue(core.compile_model(model, "CPU", config), 0))
    for queue, length in zip(queues, lengths):
        for _ in range(len(queue)):
            queue.start_async(random_batch(batch, length, bundle.vocab_size))
        queue.wait_all()
    return {"mode": mode, "models": len(set(map(id, queues))), "shapes": len(lengths), "arithmetic": hint,
            "seconds": round(time.perf_counter() - started, 1),
            "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-m", "--model", default="models/imdb-minilm")
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--step", type=int, default=32)
    parser.add_argument("--mode", choices=("dynamic", "static"), help=argparse.SUPPRESS)  # the child process
    parser.add_argument("--out", default=str(RESULTS_DIR / "static_buckets.json"))
    args = parser.parse_args()
    if args.mode:
        print(json.dumps(run_mode(args.model, args.mode, args.batch, args.step)))
        return
    rows = []
    for mode in ("dynamic", "static"):
        child = subprocess.run([sys.executable, __file__, "-m", args.model, "--batch", str(args.batch), "--step",
                                str(args.step), "--mode", mode], capture_output=True, text=True, check=True)
        rows.append(json.loads(child.stdout.strip().splitlines()[-1]))
        print(rows[-1], flush=True)
    write_results(args.out, {"model": args.model, "batch": args.batch, "rows": rows, **measured_on()})


if __name__ == "__main__":
    main()
