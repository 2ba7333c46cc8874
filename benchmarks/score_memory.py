"""Peak memory and speed of `bertvino score` by batch token budget, per path: what --max-batch-tokens saves.

    python benchmarks/score_memory.py [-m BUNDLE] [--reviews 1000] [--budgets 8192,4096,2048] [--paths int8,f32]
        [--repeats 2]

Writes the sample (the first 500 positive and 500 negative IMDB test reviews, as the other scoring benchmarks) and
runs `bertvino score` on it in a fresh process per run, the configurations interleaved, `--repeats` times each.
Each run reports its own peak RSS (`score --metrics-json`, from getrusage) and reviews/s; a configuration keeps its
best speed and its highest peak. With --batch-size 32 and the default model's 256 tokens, a budget of 8,192 tokens
is no budget at all (32 x 256): the "before" row.
"""

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

from common import measured_on, write_results
from imdb_sample import add_sample_arguments, write_sample


def run_score(folder: Path, model, path: str, budget: int, batch_size: int, tmp: Path) -> dict:
    metrics = tmp / "metrics.json"
    command = [sys.executable, "-m", "bertvino", "score", str(folder), "-o", str(tmp / "rows.csv"), "--overwrite",
               "--precision", path, "--max-batch-tokens", str(budget), "--batch-size", str(batch_size),
               "--no-progress", "--metrics-json", str(metrics), *(["-m", model] if model else [])]
    subprocess.run(command, check=True, capture_output=True)
    return json.loads(metrics.read_text())


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_sample_arguments(parser, reviews=1000, results_name="score_memory")
    parser.add_argument("--budgets", default="8192,4096,2048", help="comma-separated --max-batch-tokens values")
    parser.add_argument("--paths", default="int8,f32", help="comma-separated --precision paths")
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args()

    configs = [(path, int(budget)) for path in args.paths.split(",") for budget in args.budgets.split(",")]
    runs = {config: [] for config in configs}
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "reviews"
        reviews = len(write_sample(args.data, args.reviews, folder))
        for _ in range(args.repeats):
            for path, budget in configs:  # interleaved, so a busy spell slows every configuration alike
                result = run_score(folder, args.model, path, budget, args.batch_size, Path(tmp))
                runs[(path, budget)].append(result)
                print(path, budget, result["reviews_per_s"], "reviews/s", result["peak_rss_mb"], "MB", flush=True)
    rows = [{"path": path, "max_batch_tokens": budget, "reviews": reviews,
             "best_reviews_per_s": max(r["reviews_per_s"] for r in runs[(path, budget)]),
             "peak_rss_mb": max(r["peak_rss_mb"] for r in runs[(path, budget)]),
             "runs": [{"reviews_per_s": r["reviews_per_s"], "peak_rss_mb": r["peak_rss_mb"]}
                      for r in runs[(path, budget)]]} for path, budget in configs]
    results = {"batch_size": args.batch_size, "rows": rows, **measured_on()}
    machine = results["machine"]
    lines = [f"Machine: {machine['cpu']}, {machine['cores']} cores ({', '.join(machine['cpu_flags'])}); OpenVINO "
             f"{machine['openvino'].split('-')[0]}. `{results['command']}`; {reviews} IMDB test reviews, "
             f"--batch-size {args.batch_size}, best speed and highest peak of {args.repeats} interleaved runs.", "",
             "| path | --max-batch-tokens | reviews/s | peak RSS (MB) |", "| --- | ---: | ---: | ---: |"]
    lines += [f"| {r['path']} | {r['max_batch_tokens']} | {r['best_reviews_per_s']} | {r['peak_rss_mb']} |"
              for r in rows]
    markdown = "\n".join(lines) + "\n"
    print(markdown)
    write_results(args.out, results, markdown)


if __name__ == "__main__":
    main()
