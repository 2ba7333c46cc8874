"""`bertvino score --ray` (a local Ray) against plain `score` on the same IMDB test reviews, on this machine.

    python benchmarks/ray_score.py [-m BUNDLE] [--data ../shared/data/aclImdb_v1.tar.gz] [--reviews 2000]

Takes the first N/2 positive and N/2 negative reviews of the test split as an aclImdb-style folder, then in one
process:

- plain `score` (the model compiled first, so its rate excludes compiling, as the CLI's own rate does), before
  and again after the Ray runs, so a change in the machine's load shows;
- starts a local Ray (timed: Ray's start-up, reported apart);
- for each (actors, OpenVINO threads per actor, reviews per block): one review through the pipeline, which costs
  the pipeline's fixed start (actor processes, each compiling the model), then all N; the rate "excluding
  start-up" is N / (time of the N-review run - time of the one-review run).

Per-block overhead is the time `--ray` takes beyond plain `score` (both without start-up), per block. Scaling is
time against actors at one thread each. Writes benchmarks/results/ray_score.{json,md}.
"""

import argparse
import sys
import tempfile
import time
from pathlib import Path

import ray

from bertvino.core.bundle import load_bundle
from bertvino.infer.classifier import Classifier
from bertvino.infer.ray_scoring import LOCAL, RayOptions, connect, ray_score
from bertvino.infer.scoring import score
from bertvino.models import find_model
from common import measured_on, write_results
from imdb_sample import add_sample_arguments, write_sample  # benchmarks/imdb_sample.py


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--configs", default="1x1x512,2x1x512,1x2x512,2x1x64",
                        help="Ray runs as ACTORSxTHREADSxBLOCK_ROWS, comma-separated (default: %(default)s)")
    add_sample_arguments(parser, reviews=2000, results_name="ray_score")
    args = parser.parse_args()

    bundle = load_bundle(find_model(args.model))
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        folder, one = tmp / "reviews", tmp / "one"
        write_sample(args.data, args.reviews, folder)
        write_sample(args.data, 1, one)
        plain = run_plain(folder, bundle, tmp / "plain.csv", args.batch_size)
        print(f"plain score: {plain['reviews_per_s']} reviews/s", file=sys.stderr)
        started = time.perf_counter()
        connect(LOCAL)
        ray_start_s = time.perf_counter() - started
        runs = []
        for config in args.configs.split(","):
            actors, threads, block_rows = (int(part) for part in config.split("x"))
            options = RayOptions(actors=actors, threads=threads, block_rows=block_rows)
            run = run_ray(folder, one, bundle, options, tmp, args.batch_size, plain["seconds"])
            print(f"--ray {config}: {run}", file=sys.stderr)
            runs.append(run)
        ray.shutdown()
        plain_after = run_plain(folder, bundle, tmp / "plain-after.csv", args.batch_size)
    plain["reviews_per_s_after_ray"] = plain_after["reviews_per_s"]

    best = max(runs, key=lambda run: run["reviews_per_s_excluding_start"])
    results = {
        "bundle": str(bundle.path.resolve()), "precision": bundle.precision, "reviews": args.reviews,
        "batch_size": args.batch_size, "plain": plain, "ray_start_s": round(ray_start_s, 2), "ray": runs,
        "best_ray_share_of_plain": round(best["reviews_per_s_excluding_start"] / plain["reviews_per_s"], 3),
        **measured_on()}
    write_results(args.out, results, markdown(results))
    print(markdown(results))


def run_plain(folder, bundle, output, batch_size) -> dict:
    started = time.perf_counter()
    classifier = Classifier(bundle, performance_hint="THROUGHPUT")
    compile_s = time.perf_counter() - started
    summary = score([folder], classifier, output=output, batch_size=batch_size, progress=False)
    return {"compile_s": round(compile_s, 2), "seconds": round(summary.seconds, 2),
            "reviews_per_s": round(summary.reviews_per_s, 2), "accuracy": summary.metrics["accuracy"]}


def run_ray(folder, one, bundle, options, tmp, batch_size, plain_seconds) -> dict:
    """One configuration: the one-review run (fixed start), then the full run."""
    def timed(inputs, name):
        blocks = []
        summary = ray_score([inputs], bundle.path, options, output=tmp / name, batch_size=batch_size,
                            progress=False, say=lambda line: None, on_block=blocks.append)
        return summary, len(blocks)

    start, _ = timed(one, f"one-{id(options)}.csv")
    summary, blocks = timed(folder, f"ray-{id(options)}.csv")
    working_s = summary.seconds - start.seconds
    return {"actors": options.actors, "threads_per_actor": options.threads, "block_rows": options.block_rows,
            "blocks": blocks, "start_s": round(start.seconds, 2), "seconds": round(summary.seconds, 2),
            "reviews_per_s": round(summary.reviews_per_s, 2),
            "reviews_per_s_excluding_start": round(summary.scored / working_s, 2),
            "per_actor_reviews_per_s": round(summary.scored / working_s / options.actors, 2),
            "overhead_per_block_ms": round(1000 * (working_s - plain_seconds) / blocks, 1),
            "accuracy": summary.metrics["accuracy"]}


def markdown(results) -> str:
    plain = results["plain"]
    lines = [f"`bertvino score` on {results['reviews']} IMDB test reviews, {results['machine']['cpu']}, "
             f"{results['machine']['cores']} cores, batch size {results['batch_size']}. Ray's start-up "
             f"(`ray.init`, local): {results['ray_start_s']} s, not counted below.", "",
             "| run | actors x threads | reviews/block | pipeline start s | s | reviews/s (excl. start) | "
             "share of plain | overhead/block ms |", "| --- | --- | --- | --- | --- | --- | --- | --- |",
             f"| plain score | - | - | {plain['compile_s']} (compile) | {plain['seconds']} | {plain['reviews_per_s']} "
             f"(after the Ray runs: {plain['reviews_per_s_after_ray']}) | 100 % | - |"]
    for run in results["ray"]:
        share = 100 * run["reviews_per_s_excluding_start"] / plain["reviews_per_s"]
        lines.append(f"| --ray | {run['actors']} x {run['threads_per_actor']} | {run['block_rows']} | "
                     f"{run['start_s']} | {run['seconds']} | {run['reviews_per_s_excluding_start']} | {share:.0f} % | "
                     f"{run['overhead_per_block_ms']} |")
    return "\n".join([*lines, "", f"Command: `{results['command']}`", ""])


if __name__ == "__main__":
    main()
