"""The compiled tokenizer against Google's on a whole corpus: every review's ids must match; and how fast each is.

    nice python benchmarks/tokenizer_check.py [--data ../shared/data/aclImdb_v1.tar.gz] [--split test] \
        [-m models/imdb-minilm] [--out benchmarks/results/tokenizer_check.json]

For the bundle's vocab and for both do_lower_case values (the bundle's first), tokenizes every review of the split
with `bertvino.core.tokenization.FullTokenizer` (the Python port of Google's code) and with
`bertvino.core.fast_tokenization.FastTokenizer` (fresh, so its per-character checks are paid for in the timing), in
windows of 512 reviews as `score` does, and compares the word-piece ids review by review. Reports mismatches (with
the first few), how many reviews fell back to the Python tokenizer, and reviews/s for each: wall clock, and per CPU
second of this process (the compiled tokenizer may use both cores; per CPU second is its one-core rate). Exits 1 if
any review's ids differ.
"""

import argparse
import os
import sys
import time

from bertvino.core.bundle import load_bundle
from bertvino.core.fast_tokenization import FastTokenizer
from bertvino.models import find_model
from bertvino.core.reviews import read_reviews
from bertvino.core.tokenization import FullTokenizer
from common import RESULTS_DIR, add_data_option, measured_on, write_results

WINDOW = 512  # reviews per call, as `score` tokenizes them (batch 32 x 16 batches per window)


def timed_ids(tokenizer, texts) -> tuple:
    """(ids of every text, wall seconds, CPU seconds of this process), tokenizing `WINDOW` texts per call."""
    ids, wall, cpu = [], time.perf_counter(), time.process_time()
    for start in range(0, len(texts), WINDOW):
        ids.extend(tokenizer.piece_ids(texts[start:start + WINDOW]))
    return ids, time.perf_counter() - wall, time.process_time() - cpu


def rates(count: int, wall: float, cpu: float) -> dict:
    return {"seconds": round(wall, 2), "reviews_per_s": round(count / wall, 1),
            "reviews_per_cpu_s": round(count / cpu, 1)}


def check(vocab_file, do_lower_case: bool, reviews) -> dict:
    texts = [review.text for review in reviews]
    reference_ids, *reference_time = timed_ids(FullTokenizer(vocab_file, do_lower_case), texts)
    fast = FastTokenizer(vocab_file, do_lower_case)
    fast_ids, *fast_time = timed_ids(fast, texts)
    mismatches = [review.source for review, want, got in zip(reviews, reference_ids, fast_ids) if want != got]
    result = {"do_lower_case": do_lower_case, "reviews": len(texts), "mismatches": len(mismatches),
              "first_mismatches": mismatches[:5], "fallback_reviews": fast.fallback_texts,
              "python": rates(len(texts), *reference_time), "compiled": rates(len(texts), *fast_time)}
    result["speedup_wall"] = round(result["compiled"]["reviews_per_s"] / result["python"]["reviews_per_s"], 1)
    return result


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_data_option(parser)
    parser.add_argument("--split", default="test", help="aclImdb folder to read (default: test)")
    parser.add_argument("-m", "--model", default=None, help="bundle whose vocab to use (default: the bundled model)")
    parser.add_argument("--out", default=str(RESULTS_DIR / "tokenizer_check.json"))
    args = parser.parse_args()

    bundle = load_bundle(find_model(args.model), require_ir=False)
    reviews = list(read_reviews(args.data, split=args.split))
    results = []
    for do_lower_case in (bundle.do_lower_case, not bundle.do_lower_case):
        result = check(str(bundle.vocab_file), do_lower_case, reviews)
        print(f"do_lower_case={do_lower_case}: {result['reviews']} reviews, {result['mismatches']} mismatches, "
              f"{result['fallback_reviews']} fell back to Python; Python {result['python']['reviews_per_s']}/s "
              f"({result['python']['reviews_per_cpu_s']} per CPU s), compiled {result['compiled']['reviews_per_s']}/s "
              f"({result['compiled']['reviews_per_cpu_s']} per CPU s), {result['speedup_wall']}x", flush=True)
        for source in result["first_mismatches"]:
            print(f"  ids differ: {source}")
        results.append(result)

    write_results(args.out, {
        "bundle": str(bundle.path), "split": args.split,
        "tokenizers_parallelism": os.environ.get("TOKENIZERS_PARALLELISM", "default"), "results": results,
        **measured_on()})
    print(f"wrote {args.out}")
    sys.exit(1 if any(result["mismatches"] for result in results) else 0)


if __name__ == "__main__":
    main()
