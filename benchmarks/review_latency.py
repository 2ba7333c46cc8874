"""Batch-1 latency per review for several bundles, measured back to back so that their rows compare.

    python benchmarks/review_latency.py BUNDLE [BUNDLE ...] [--data ../shared/data/aclImdb_v1.tar.gz] [--reviews 200]

Every bundle classifies the same first N reviews of the split one at a time, as `bertvino classify` does
(tokenization included, each review truncated as its bundle was trained), after a warm-up; p50 and p95 in ms.
`imdb_accuracy.py` measures the same thing after a full test-split pass, but runs days apart on a shared machine do
not compare; this script puts the README table's latency column on one footing. Run it on an otherwise idle machine.
Writes benchmarks/results/latency.{json,md}.
"""

import argparse
import itertools

from bertvino.core.bundle import load_bundle
from bertvino.infer.bench import review_latency_ms
from bertvino.infer.classifier import Classifier
from bertvino.core.reviews import read_reviews
from common import RESULTS_DIR, add_data_option, measured_on, write_results


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("bundles", nargs="+", help="bundle directories")
    add_data_option(parser)
    parser.add_argument("--split", default="test")
    parser.add_argument("--reviews", type=int, default=200)
    parser.add_argument("--precision", default="auto", choices=("auto", "int8", "bf16", "f32"),
                        help="the precision path to time (default: auto, what `classify` runs on this CPU)")
    parser.add_argument("--out", default=str(RESULTS_DIR / "latency"))
    args = parser.parse_args()

    texts = [review.text for review in itertools.islice(read_reviews(args.data, split=args.split), args.reviews)]
    rows = []
    for path in args.bundles:
        bundle = load_bundle(path)
        classifier = Classifier(bundle, performance_hint="LATENCY", precision=args.precision)
        latency = review_latency_ms(classifier, texts)
        # The path that ran (IR and arithmetic), not the bundle's float precision: auto may run its INT8 IR.
        ran = f"{classifier.choice.path} ({classifier.choice.model_xml.name})"
        rows.append({"bundle": path, "max_seq_length": bundle.max_seq_length, "truncation": bundle.truncation,
                     "precision": ran, **latency})
        print(f"{path}: p50 {latency['p50_ms']} ms, p95 {latency['p95_ms']} ms", flush=True)

    results = {"data": f"{args.data} ({args.split}/)", "rows": rows, **measured_on()}
    table = ["| bundle | max_seq_length | truncation | precision | p50 | p95 |",
             "| --- | ---: | --- | --- | ---: | ---: |"]
    table += [f"| {row['bundle']} | {row['max_seq_length']} | {row['truncation']} | {row['precision']} | "
              f"{row['p50_ms']} ms | {row['p95_ms']} ms |" for row in rows]
    write_results(args.out, results, f"Batch-1 latency per review, {len(texts)} reviews of {results['data']}, "
                                     f"on {results['machine']['cpu']} ({results['machine']['cores']} cores).\n"
                                     f"`{results['command']}`\n\n" + "\n".join(table) + "\n")


if __name__ == "__main__":
    main()
