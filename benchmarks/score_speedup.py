"""`bertvino score` with no precision flag against each `--precision` path, side by side, on the same IMDB test
reviews; and each one's share of the engine's own throughput on the very batches it ran.

    python benchmarks/score_speedup.py [-m BUNDLE] [--data ../shared/data/aclImdb_v1.tar.gz] [--reviews 2000]

Takes the first N/2 positive and N/2 negative reviews of the test split, writes them as an aclImdb-style folder,
and times `bertvino score` on it in a fresh process per path (start-up, model load, reading, tokenization and
inference included: "wall"), alternating the paths `--repeats` times and keeping each one's best. `score`'s own
timer ("scoring": from the first review read to the last row written) is set against the engine: the same
reviews encoded, cut into the batches `score` makes (length-sorted windows, padded to each batch's longest) and
run on pre-made inputs through AsyncInferQueue with the same IR and arithmetic, as benchmark_app would. The bars:
no flag >= 2.2x faster than f32 on a VNNI CPU, scoring >= 85 % of the engine (issue 11), and no flag within 5 % of
the fastest path measured in the same run (issue 20; `auto_vs_fastest`).
Writes benchmarks/results/score_speedup.{json,md}.
"""

import argparse
import json
import shlex
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bertvino.core.bundle import load_bundle
from bertvino.core.features import MAX_BATCH_TOKENS, pad_batch, stepped_length
from bertvino.core.files import write_json_atomically, write_text_atomically
from bertvino.infer.bench import describe_machine, openvino_throughput
from bertvino.infer.classifier import Classifier
from bertvino.infer.scoring import WINDOW_BATCHES, length_sorted_batches
from bertvino.models import find_model
from bertvino.core.reviews import read_reviews
from imdb_sample import add_sample_arguments, write_sample  # benchmarks/imdb_sample.py
PATHS = {"no flag (auto)": [], **{f"--precision {path}": ["--precision", path] for path in ("f32", "bf16", "int8")}}


def timed_score(bundle, folder: Path, flags: list, batch_size: int, tmp: Path) -> dict:
    """One `bertvino score` in a fresh process: wall seconds, its own scoring seconds, accuracy."""
    metrics_file = tmp / "metrics.json"
    command = [sys.executable, "-m", "bertvino", "score", str(folder), "-m", str(bundle.path), "-o",
               str(tmp / "rows.csv"), "--overwrite", "--batch-size", str(batch_size), "--no-progress",
               "--metrics-json", str(metrics_file), *flags]
    started = time.perf_counter()
    subprocess.run(command, check=True, capture_output=True)
    wall = time.perf_counter() - started
    metrics = json.loads(metrics_file.read_text())
    return {"wall_s": round(wall, 2), "scoring_s": metrics["seconds"], "accuracy": metrics["metrics"]["accuracy"]}


def engine_seconds(bundle, folder: Path, precision: str, batch_size: int, repeats: int = 2) -> float:
    """Seconds the engine alone needs for exactly the batches `score` runs (best of `repeats` passes)."""
    import openvino as ov

    classifier = Classifier(bundle, performance_hint="THROUGHPUT", precision=precision)
    encoded = classifier.encode_batch([review.text for review in read_reviews(folder)])
    window = batch_size * WINDOW_BATCHES
    batches = []
    for start in range(0, len(encoded), window):
        id_lists = encoded[start:start + window]
        for batch in length_sorted_batches(id_lists, batch_size, MAX_BATCH_TOKENS):  # as score cuts and pads them
            longest = max(len(id_lists[i]) for i in batch)
            batches.append(pad_batch([id_lists[i] for i in batch], stepped_length(longest, bundle.max_seq_length)))
    openvino_throughput(classifier.compiled, batches[len(batches) // 2], 0.5)  # warm-up at a middle length
    best = float("inf")
    for _ in range(repeats):
        queue = ov.AsyncInferQueue(classifier.compiled, 0)
        started = time.perf_counter()
        for arrays in batches:
            queue.start_async(arrays)
        queue.wait_all()
        best = min(best, time.perf_counter() - started)
    return best


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_sample_arguments(parser, reviews=2000, results_name="score_speedup")
    parser.add_argument("--repeats", type=int, default=1, help="runs per path, alternating; the best is kept")
    args = parser.parse_args()

    import openvino as ov
    from bertvino.infer.autotune import choose_for_device

    bundle = load_bundle(find_model(args.model))
    auto = choose_for_device(ov.Core(), "CPU", bundle, "auto", measure=True)  # as score: measured here, cached
    precisions = {"no flag (auto)": auto.path, **{f"--precision {path}": path for path in ("f32", "bf16", "int8")}}
    results = {"bundle": str(bundle.path.resolve()), "auto": {"precision": auto.path, "why": auto.reason},
               "batch_size": args.batch_size, "paths": {}}
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "reviews"
        results["reviews"] = len(write_sample(args.data, args.reviews, folder))
        runs = {name: [] for name in PATHS}
        for _ in range(args.repeats):
            for name, flags in PATHS.items():
                runs[name].append(timed_score(bundle, folder, flags, args.batch_size, Path(tmp)))
                print(name, runs[name][-1], flush=True)
        for name, precision in precisions.items():
            best = min(runs[name], key=lambda run: run["wall_s"])
            engine_s = engine_seconds(bundle, folder, precision, args.batch_size)
            results["paths"][name] = {
                "precision": precision, **best, "engine_s": round(engine_s, 2),
                "scoring_pct_of_engine": round(100 * engine_s / best["scoring_s"], 1),
                "reviews_per_s_scoring": round(results["reviews"] / best["scoring_s"], 1),
                "reviews_per_s_engine": round(results["reviews"] / engine_s, 1)}
            print(name, results["paths"][name], flush=True)
    auto_run, f32_run = results["paths"]["no flag (auto)"], results["paths"]["--precision f32"]
    results["speedup_wall"] = round(f32_run["wall_s"] / auto_run["wall_s"], 2)
    results["speedup_scoring"] = round(f32_run["scoring_s"] / auto_run["scoring_s"], 2)
    fastest = min((run["wall_s"], name) for name, run in results["paths"].items() if name != "no flag (auto)")
    results["auto_vs_fastest"] = {"fastest": fastest[1], "auto_wall_over_fastest": round(auto_run["wall_s"] /
                                                                                         fastest[0], 3)}
    results["command"] = " ".join(["python", "benchmarks/score_speedup.py", *map(shlex.quote, sys.argv[1:])])
    results["machine"] = describe_machine()

    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    write_json_atomically(out.with_suffix(".json"), results)
    machine = results["machine"]
    lines = [f"`bertvino score` on {results['reviews']} IMDB test reviews, each path in a fresh process; machine: "
             f"{machine['cpu']}, {machine['cores']} cores ({', '.join(machine['cpu_flags'])}). No flag takes "
             f"**{auto.path}** here: {auto.reason}.", "",
             "| path | wall (s) | scoring (s) | engine alone (s) | scoring % of engine | accuracy |",
             "| --- | ---: | ---: | ---: | ---: | ---: |"]
    lines += [f"| {name} ({run['precision']}) | {run['wall_s']} | {run['scoring_s']} | {run['engine_s']} | "
              f"{run['scoring_pct_of_engine']} | {run['accuracy']:.4f} |" for name, run in results["paths"].items()]
    lines += ["", f"Speedup of no flag over `--precision f32`: {results['speedup_wall']}x wall, "
                  f"{results['speedup_scoring']}x scoring; no flag's wall over the fastest path's "
                  f"({fastest[1]}): {results['auto_vs_fastest']['auto_wall_over_fastest']}. "
                  f"Command: `{results['command']}`"]
    write_text_atomically(out.with_suffix(".md"), "\n".join(lines) + "\n")
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
