"""Accuracy of a bundle on the IMDB test set, and its CPU latency per review.

    python benchmarks/imdb_accuracy.py -m runs/imdb-minilm-128/bundle \
        [--data ../shared/data/aclImdb_v1.tar.gz --split test] [--record] [--out results.json]

Accuracy: every review of the split (25,000 for aclImdb's test/), scored as `bertvino score` does (batches of
similar length on the async API), each truncated as the bundle was trained. Latency: the first `--latency-samples`
reviews one at a time (batch 1, tokenization included), as `bertvino classify` does; p50 and p95 in ms. `--record`
also writes the accuracy and the command into the bundle's `bundle.json` provenance.
"""

import argparse
import itertools
import json
import tempfile
from pathlib import Path

from bertvino.core.bundle import load_bundle, update_metadata
from bertvino.infer.bench import review_latency_ms
from bertvino.infer.classifier import Classifier
from bertvino.infer.scoring import score
from bertvino.core.reviews import read_reviews
from common import RESULTS_DIR, add_data_option, measured_on, write_results


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-m", "--model", required=True, help="bundle directory")
    add_data_option(parser)
    parser.add_argument("--split", default="test")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--latency-samples", type=int, default=200)
    parser.add_argument("--precision", default="f32", choices=("auto", "int8", "bf16", "f32"),
                        help="the path to measure (default: f32, the float IR as TensorFlow computes it)")
    parser.add_argument("--record", action="store_true", help="write the result into the bundle's provenance")
    parser.add_argument("--out", help="JSON file for the results (default: benchmarks/results/accuracy-NAME.json)")
    args = parser.parse_args()

    bundle = load_bundle(args.model)
    with tempfile.TemporaryDirectory() as tmp:  # the rows themselves are not kept: this measures accuracy
        classifier = Classifier(bundle, performance_hint="THROUGHPUT", precision=args.precision)
        summary = score([args.data], classifier, split=args.split,
                        output=Path(tmp) / "rows.csv", batch_size=args.batch_size)
    if summary.skipped:
        raise SystemExit(f"{len(summary.skipped)} reviews could not be read, e.g. {summary.skipped[0]}")

    texts = [review.text for review in itertools.islice(read_reviews(args.data, split=args.split),
                                                         args.latency_samples)]
    latency = review_latency_ms(Classifier(bundle, performance_hint="LATENCY", precision=args.precision), texts)

    results = {
        "bundle": str(bundle.path), "max_seq_length": bundle.max_seq_length, "truncation": bundle.truncation,
        "precision": bundle.precision, "path": args.precision, "data": f"{args.data} ({args.split}/)",
        "reviews": summary.scored,
        "accuracy": summary.metrics["accuracy"], "metrics": summary.metrics,
        "batch_reviews_per_s": round(summary.reviews_per_s, 1),
        "latency_ms_p50": latency["p50_ms"], "latency_ms_p95": latency["p95_ms"],
        **measured_on(),
    }
    print(json.dumps(results, indent=2))
    write_results(args.out or RESULTS_DIR / f"accuracy-{bundle.path.resolve().parent.name}-{bundle.path.name}.json",
                  results)
    if args.record:
        provenance = dict(bundle.metadata.get("provenance") or {})
        provenance["test"] = {key: results[key] for key in ("data", "reviews", "accuracy", "command")}
        update_metadata(bundle, provenance=provenance)


if __name__ == "__main__":
    main()
