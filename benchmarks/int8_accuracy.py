"""The INT8 IR's accuracy against the float IR's, on the same reviews: what `--precision auto`'s guard reads.

    python benchmarks/int8_accuracy.py -m models/imdb-minilm [--data ../shared/data/aclImdb_v1.tar.gz --split test]
        [--float-rows float.csv] [--int8-rows int8.csv] [--short-texts 2000] [--record]

Scores every review of the split (25,000 for aclImdb's test/) with the INT8 IR (`--precision int8`) and with the
float IR in f32 arithmetic (`--precision f32`), as `bertvino score` does, and reports each one's accuracy and the
share of reviews on which the two give the same label. `--float-rows` reuses the rows of an earlier
`bertvino score --precision f32 -o FILE.csv` run of the same bundle on the same split instead of scoring it again
(and `--int8-rows` those of `--precision int8`), so the two long passes can run while other work goes on.
Short text: the last sentence (>= 4 words) of a seeded random sample of `--short-texts` reviews of the split,
labelled by its review, through both paths. `--record` writes it all into bundle.json's `irs` entry for the
INT8 IR, where `bertvino.infer.precision.guard` reads it (`bertvino validate` does this for any labelled reviews). Never run it on the reviews INT8 was calibrated on.
"""

import argparse
import csv
import json
import random
import shlex
import sys
import tempfile
from pathlib import Path

import numpy as np

from bertvino.core.bundle import FLOAT_IR, INT8_IR, load_bundle, update_ir_record
from bertvino.core.files import write_json_atomically
from bertvino.infer.bench import describe_machine
from bertvino.infer.classifier import Classifier
from bertvino.infer.scoring import score
from bertvino.core.reviews import read_reviews
from bertvino.train.snippets import MIN_WORDS, split_sentences
from common import RESULTS_DIR, add_data_option  # benchmarks/common.py



def scored_labels(bundle, precision, data, split, rows_file=None) -> dict:
    """{source: (label, gold)} of every review of the split on one path (or read from an earlier run's CSV)."""
    with tempfile.TemporaryDirectory() as tmp:
        if rows_file is None:
            rows_file = Path(tmp) / "rows.csv"
            classifier = Classifier(bundle, performance_hint="THROUGHPUT", precision=precision)
            summary = score([data], classifier, split=split, output=rows_file)
            if summary.skipped:
                raise SystemExit(f"{len(summary.skipped)} inputs could not be read, e.g. {summary.skipped[0]}")
        with open(rows_file, encoding="utf-8", newline="") as file:
            return {row["source"]: (row["label"], row["gold"]) for row in csv.DictReader(file)}


def compare(int8: dict, floats: dict) -> dict:
    """Accuracy of both paths over the same sources, and their agreement."""
    if int8.keys() != floats.keys():
        raise SystemExit(f"the two runs scored different reviews ({len(int8)} vs {len(floats)}): is --float-rows "
                         "from the same split?")
    sources = sorted(int8)
    return {"reviews": len(sources),
            "accuracy": round(sum(int8[s][0] == int8[s][1] for s in sources) / len(sources), 5),
            "float_accuracy": round(sum(floats[s][0] == floats[s][1] for s in sources) / len(sources), 5),
            "agreement": round(sum(int8[s][0] == floats[s][0] for s in sources) / len(sources), 5)}


def last_sentences(data, split, count, seed=0) -> tuple:
    """(texts, gold labels): the last sentence of `count` randomly chosen reviews of the split (seeded)."""
    pieces = []
    for review in read_reviews(data, split=split):
        sentences = [s for s in split_sentences(review.text) if len(s.split()) >= MIN_WORDS]
        if sentences:
            pieces.append((sentences[-1], review.label))
    chosen = random.Random(seed).sample(pieces, min(count, len(pieces)))
    return [text for text, _ in chosen], [label for _, label in chosen]


def predicted_labels(classifier, texts, batch_size=64) -> list:
    """Labels of `texts`, batched by length so that short texts pad little."""
    encoded = [classifier.encode(text) for text in texts]
    order = np.argsort([len(ids) for ids in encoded], kind="stable")
    labels = [None] * len(texts)
    for start in range(0, len(order), batch_size):
        batch = order[start:start + batch_size]
        batch_ids = [encoded[i] for i in batch]
        probabilities = classifier.probabilities(classifier.pooled(batch_ids), classifier.lengths(batch_ids))
        for i, row in zip(batch, probabilities):
            labels[i] = classifier.bundle.labels[int(np.argmax(row))]
    return labels


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-m", "--model", required=True, help="bundle directory with model.xml and model-int8.xml")
    add_data_option(parser)
    parser.add_argument("--split", default="test")
    parser.add_argument("--float-rows", help="CSV of `bertvino score --precision f32` on the same split")
    parser.add_argument("--int8-rows", help="CSV of `bertvino score --precision int8` on the same split")
    parser.add_argument("--short-texts", type=int, default=2000, help="last sentences to compare (0: none)")
    parser.add_argument("--short-data", help="reviews to cut the short texts from (default: --data), --split of it")
    parser.add_argument("--data-note", help="what --data is, recorded beside its name (e.g. how a sample was drawn)")
    parser.add_argument("--record", action="store_true", help="write the results into the bundle's bundle.json")
    parser.add_argument("--out", default=str(RESULTS_DIR / "int8_accuracy.json"))
    args = parser.parse_args()

    bundle = load_bundle(args.model)
    float_path = f"model.xml ({bundle.precision.upper()} IR) in f32 arithmetic"
    name = f"{Path(args.data).name} ({args.split}/)"
    test = {"data": name, **compare(scored_labels(bundle, "int8", args.data, args.split, args.int8_rows),
                                    scored_labels(bundle, "f32", args.data, args.split, args.float_rows)),
            "float_path": float_path, **({"note": args.data_note} if args.data_note else {})}
    print(json.dumps(test), flush=True)
    accuracy = {"test": test}
    if args.short_texts:
        short_data = args.short_data or args.data
        texts, gold = last_sentences(short_data, args.split, args.short_texts)
        int8 = predicted_labels(Classifier(bundle, precision="int8"), texts)
        floats = predicted_labels(Classifier(bundle, precision="f32"), texts)
        accuracy["short_text"] = {
            "data": f"the last sentence (>= {MIN_WORDS} words) of {len(texts)} random {Path(short_data).name} "
                    f"({args.split}/) reviews (seed 0), "
                    f"labelled by their review", "texts": len(texts),
            "accuracy": round(float(np.mean([a == b for a, b in zip(int8, gold)])), 5),
            "float_accuracy": round(float(np.mean([a == b for a, b in zip(floats, gold)])), 5),
            "agreement": round(float(np.mean([a == b for a, b in zip(int8, floats)])), 5), "float_path": float_path}
        print(json.dumps(accuracy["short_text"]), flush=True)
    accuracy["command"] = " ".join(["python", "benchmarks/int8_accuracy.py", *map(shlex.quote, sys.argv[1:])])
    results = {"bundle": str(bundle.path), "accuracy": accuracy, "machine": describe_machine()}
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    write_json_atomically(args.out, results)
    if args.record:
        update_ir_record(bundle, INT8_IR, {"accuracy": accuracy})
        update_ir_record(bundle, FLOAT_IR, {"accuracy": {  # the float IR's side of the same comparison
            name: {key: value for key, value in part.items()
                   if key not in ("accuracy", "agreement", "float_accuracy", "float_path")}
            | {"accuracy": part["float_accuracy"], "path": part["float_path"]}
            for name, part in accuracy.items() if isinstance(part, dict)} | {"command": accuracy["command"]}})
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
