"""Why `score` pads to a multiple of 32 tokens: OpenVINO's memory grows with the number of distinct input shapes.

    python benchmarks/shape_memory.py [-m BUNDLE] [--precision int8] [--step 1] [--budget 2048] [--batches 120]

Compiles the IR as `score` does (THROUGHPUT, AsyncInferQueue), runs `--batches` batches of random lengths 20 to
max_seq_length (seeded), each padded up to a multiple of `--step` tokens and as many texts as fit `--budget`
tokens (at most 32), and prints the process's resident memory at the end and its peak. Run it once per setting:
each process keeps what its shapes cost.
"""

import argparse
import resource

import numpy as np

from bertvino.core.bundle import load_bundle
from bertvino.infer.precision import compile_config, detect_capabilities, path_ir
from bertvino.infer.timing import random_batch
from bertvino.models import find_model


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-m", "--model", help="bundle (default: the bundled model)")
    parser.add_argument("--precision", default="int8", choices=("f32", "bf16", "int8"))
    parser.add_argument("--step", type=int, default=1, help="pad lengths up to a multiple of this")
    parser.add_argument("--budget", type=int, default=2048, help="tokens per batch")
    parser.add_argument("--batches", type=int, default=120)
    args = parser.parse_args()

    import openvino as ov

    bundle = load_bundle(find_model(args.model))
    core = ov.Core()
    model_xml, hint = path_ir(bundle, args.precision, detect_capabilities(core).native_bf16)
    compiled = core.compile_model(str(model_xml), "CPU", compile_config("CPU", "THROUGHPUT", hint, model_xml=model_xml))
    queue = ov.AsyncInferQueue(compiled, 0)
    rng = np.random.default_rng(0)
    shapes = set()
    for _ in range(args.batches):
        length = -(-int(rng.integers(20, bundle.max_seq_length + 1)) // args.step) * args.step
        batch = max(1, min(32, args.budget // length))
        shapes.add((batch, length))
        queue.start_async(random_batch(batch, length, bundle.vocab_size))
    queue.wait_all()
    with open("/proc/self/statm") as statm:
        resident = int(statm.read().split()[1]) * resource.getpagesize() / 2 ** 20
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"{args.precision}, step {args.step}, budget {args.budget}: {len(shapes)} shapes, resident "
          f"{resident:.0f} MB, peak {peak:.0f} MB")


if __name__ == "__main__":
    main()
