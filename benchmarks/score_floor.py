"""How close `bertvino score` gets to the compute floor on real IMDB reviews, process start to exit.

    python benchmarks/score_floor.py -m BUNDLE [--data ../shared/data/aclImdb_v1.tar.gz] [--reviews 1000]

Takes the first N/2 positive and N/2 negative reviews of the test split, writes them as an aclImdb-style folder,
and times `bertvino score` on it in a fresh process (start-up, model load, tokenization and inference included).
The floor is the IR's MatMul FLOPs at each review's token length (after the bundle's truncation), summed, divided
by the float32 matmul rate NumPy reaches in this same run. Writes benchmarks/results/score_floor.{json,md}.
"""

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bertvino.bundle import load_bundle
from bertvino.features import Truncation, encode
from bertvino.infer.bench import FlopCounter, sgemm_gflops
from bertvino.models import find_model
from common import measured_on, write_results
from imdb_sample import add_sample_arguments, write_sample  # benchmarks/imdb_sample.py


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_sample_arguments(parser, reviews=1000, results_name="score_floor")
    args = parser.parse_args()

    bundle = load_bundle(find_model(args.model))
    tokenizer, truncation = bundle.tokenizer(), Truncation.from_string(bundle.truncation)
    flops = FlopCounter(bundle.model_xml)
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "reviews"
        lengths = [len(encode(tokenizer, review.text, bundle.max_seq_length, truncation))
                   for review in write_sample(args.data, args.reviews, folder)]
        total_flops = sum(flops(n) for n in lengths)
        gflops = sgemm_gflops()
        command = [sys.executable, "-m", "bertvino", "score", str(folder), "-m", str(bundle.path), "-o",
                   str(Path(tmp) / "out.csv"), "--batch-size", str(args.batch_size), "--no-progress",
                   "--metrics-json", str(Path(tmp) / "metrics.json")]
        started = time.perf_counter()
        subprocess.run(command, check=True, capture_output=True)
        wall_s = time.perf_counter() - started
        metrics = json.loads((Path(tmp) / "metrics.json").read_text())

    floor_s = total_flops / (gflops * 1e9)
    results = {"bundle": str(bundle.path.resolve()), "precision": bundle.precision, "reviews": len(lengths),
               "mean_tokens": round(sum(lengths) / len(lengths), 1), "total_gflop": round(total_flops / 1e9, 1),
               "sgemm_gflops": round(gflops, 1), "floor_s": round(floor_s, 2), "wall_s": round(wall_s, 2),
               "floor_pct": round(100 * floor_s / wall_s, 1),
               "reviews_per_s_end_to_end": round(len(lengths) / wall_s, 1),
               "reviews_per_s_scoring_only": metrics["reviews_per_s"], "accuracy": metrics["metrics"]["accuracy"],
               "batch_size": args.batch_size, **measured_on()}
    write_results(args.out, results,
        f"`bertvino score` on {results['reviews']} IMDB test reviews (mean {results['mean_tokens']} tokens), "
        f"process start to exit: {results['wall_s']} s, {results['reviews_per_s_end_to_end']} reviews/s; compute "
        f"floor {results['floor_s']} s ({results['total_gflop']} GFLOP at {results['sgemm_gflops']} GFLOP/s): "
        f"**{results['floor_pct']} % of the floor**. Machine: {results['machine']['cpu']}, "
        f"{results['machine']['cores']} cores.\n")
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
