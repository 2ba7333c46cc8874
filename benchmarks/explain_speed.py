"""What `classify --explain` costs over a plain `classify` of a 40-word review (issue 23 asks for <= 3x).

Two measures, both with the model loaded once beforehand (model load excluded):
- in process: `Classifier.predict([text])` against `explain(classifier, [text])` (tokenization, inference, head
  and, for explain, building the variants), interleaved, best and median of --repeats each;
- whole commands: `bertvino classify TEXT` against `bertvino classify --explain TEXT`, each process's wall time
  minus the model load measured in that process (`Classifier(...)`), best of --runs each; this is what a user
  waits for, Python's start-up and imports included.

    python benchmarks/explain_speed.py          # the default model, --precision auto
Writes benchmarks/results/explain_speed.json.
"""

import argparse
import csv
import statistics
import subprocess
import sys
import time

import common
from bertvino.core.bundle import load_bundle
from bertvino.infer.classifier import Classifier
from bertvino.infer.explain import explain, word_spans
from bertvino.models import find_model

WORDS = 40

# One process of `bertvino classify [--explain] TEXT`, reporting its model load (Classifier construction) on stderr.
COMMAND = """
import sys, time
import bertvino.infer.classifier as c
real = c.Classifier.__init__
def timed(self, *a, **k):
    started = time.perf_counter(); real(self, *a, **k)
    print("LOAD", time.perf_counter() - started, file=sys.stderr)
c.Classifier.__init__ = timed
from bertvino.cli import main
sys.exit(main(sys.argv[1:]))
"""


def review_of(words: int, dev) -> str:
    """The first `words` words of the dev set's reviews, joined in file order (one-line reviews are shorter)."""
    with open(dev, encoding="utf-8", newline="") as file:
        text = " ".join(row["text"] for row in csv.DictReader(file, delimiter="\t"))
    return text[:word_spans(text)[words - 1][1]] + "."


def command_seconds(args) -> float:
    """Wall time of one classify process minus its model load."""
    started = time.perf_counter()
    result = subprocess.run([sys.executable, "-c", COMMAND, *args], capture_output=True, text=True, check=True)
    wall = time.perf_counter() - started
    load = float(next(line.split()[1] for line in result.stderr.splitlines() if line.startswith("LOAD")))
    return wall - load


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", help="bundle (default: the bundled model)")
    parser.add_argument("--precision", default="auto")
    parser.add_argument("--repeats", type=int, default=30)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--dev", default=str(common.DEFAULT_DATA.parent / "short_reviews_dev.tsv"))
    parser.add_argument("--out", default=str(common.RESULTS_DIR / "explain_speed"))
    args = parser.parse_args()

    text = review_of(WORDS, args.dev)
    classifier = Classifier(load_bundle(find_model(args.model)), precision=args.precision)
    tokens = len(classifier.encode(text))
    for _ in range(3):  # OpenVINO prepares each new shape on its first run
        classifier.predict([text])
        explain(classifier, [text])
    plain, explained = [], []
    for _ in range(args.repeats):  # interleaved, so both see the same load from other jobs
        started = time.perf_counter()
        classifier.predict([text])
        plain.append(time.perf_counter() - started)
        started = time.perf_counter()
        explain(classifier, [text])
        explained.append(time.perf_counter() - started)

    model = ["-m", args.model] if args.model else []
    flags = ["classify", *model, "--precision", args.precision]
    plain_commands, explained_commands = [], []
    for _ in range(args.runs):
        plain_commands.append(command_seconds([*flags, text]))
        explained_commands.append(command_seconds([*flags, "--explain", text]))

    def ms(values):
        return {"best_ms": round(1000 * min(values), 2), "median_ms": round(1000 * statistics.median(values), 2)}

    results = {
        "text": text, "words": len(word_spans(text)), "word_pieces": tokens, "batch_rows": len(word_spans(text)) + 1,
        "precision": classifier.choice.path,
        "in_process": {"classify": ms(plain), "explain": ms(explained),
                       "ratio_best": round(min(explained) / min(plain), 2),
                       "ratio_median": round(statistics.median(explained) / statistics.median(plain), 2)},
        "command_minus_model_load": {"classify": ms(plain_commands), "classify --explain": ms(explained_commands),
                                     "ratio_best": round(min(explained_commands) / min(plain_commands), 2)},
        "note": "measured while other jobs ran on the same 2 cores"}
    results.update(common.measured_on())
    print(results)
    common.write_results(args.out, results)


if __name__ == "__main__":
    main()
