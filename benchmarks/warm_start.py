"""Warm start: what a `bertvino classify` costs beyond importing OpenVINO, once OpenVINO's model cache is warm.

    python benchmarks/warm_start.py [-m BUNDLE] [--repeats 10] [--paths auto,int8,bf16,f32]

Runs, interleaved, `python -c "import openvino"` and `python -m bertvino classify "A fine film." --precision P`
for each path, each in a fresh process with the same cache directory ($BERTVINO_CACHE_DIR or the default), after
one untimed classify per path fills the cache. Keeps each command's best and median wall time; the goal of
issue 20 is best(classify) - best(import openvino) <= 0.25 s.
"""

import argparse
import statistics
import subprocess
import sys
import time

from common import RESULTS_DIR, measured_on, write_results


def wall(command) -> float:
    started = time.perf_counter()
    subprocess.run(command, check=True, capture_output=True)
    return time.perf_counter() - started


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-m", "--model", help="bundle (default: the bundled model)")
    parser.add_argument("--repeats", type=int, default=10)
    parser.add_argument("--paths", default="auto,int8,bf16,f32")
    parser.add_argument("--out", default=str(RESULTS_DIR / "warm_start"))
    args = parser.parse_args()

    model = ["-m", args.model] if args.model else []
    commands = {"import openvino": [sys.executable, "-c", "import openvino"]}
    for path in args.paths.split(","):
        commands[f"classify --precision {path}"] = [sys.executable, "-m", "bertvino", "classify", "A fine film.",
                                                    "--precision", path, *model]
    for name, command in commands.items():  # fill OpenVINO's model cache (and the page cache)
        wall(command)
    times = {name: [] for name in commands}
    for _ in range(args.repeats):
        for name, command in commands.items():
            times[name].append(wall(command))
    baseline = min(times["import openvino"])
    rows = {name: {"best_s": round(min(t), 3), "median_s": round(statistics.median(t), 3),
                   "best_minus_import_s": round(min(t) - baseline, 3)} for name, t in times.items()}
    results = {"repeats": args.repeats, "rows": rows, **measured_on()}
    machine = results["machine"]
    lines = [f"Machine: {machine['cpu']}, {machine['cores']} cores ({', '.join(machine['cpu_flags'])}); OpenVINO "
             f"{machine['openvino'].split('-')[0]}. `{results['command']}`; fresh process each, interleaved, "
             f"{args.repeats} runs.", "", "| command | best (s) | median (s) | best - import openvino (s) |",
             "| --- | ---: | ---: | ---: |"]
    lines += [f"| `{name}` | {r['best_s']} | {r['median_s']} | {r['best_minus_import_s']} |" for name, r in rows.items()]
    markdown = "\n".join(lines) + "\n"
    print(markdown)
    write_results(args.out, results, markdown)


if __name__ == "__main__":
    main()
