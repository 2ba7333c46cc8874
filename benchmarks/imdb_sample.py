"""The samples the scoring benchmarks share: the first N/2 positive and N/2 negative IMDB test reviews, written as an
aclImdb-style folder so `bertvino score` reads them as users' files, and the options that choose it; and, run as a
script, a seeded random balanced sample for accuracy runs that cannot afford all 25,000 test reviews (the archive
lists every negative review before the positive ones, so its first N are all negative):

    python benchmarks/imdb_sample.py --reviews 10000 --out aclImdb-test-sample-10000 [--data ...] [--seed 0]

writes DIR/test/pos and DIR/test/neg, so `--split test` reads it as it reads the archive.
"""

import argparse
import random
from pathlib import Path

from bertvino.core.reviews import read_reviews
from common import RESULTS_DIR, add_data_option


def add_sample_arguments(parser, reviews: int, results_name: str):
    """-m, --data, --reviews, --batch-size and --out (benchmarks/results/RESULTS_NAME, .json and .md added)."""
    parser.add_argument("-m", "--model", help="bundle (default: the bundled model)")
    add_data_option(parser)
    parser.add_argument("--reviews", type=int, default=reviews)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--out", default=str(RESULTS_DIR / results_name))


def write_sample(data, count: int, folder: Path) -> list:
    """Write the sample under `folder` (pos/ and neg/); returns its reviews, in the order written."""
    wanted, written = {"positive": count // 2, "negative": count - count // 2}, []
    for review in read_reviews(data, split="test"):
        if wanted.get(review.label, 0) > 0:
            wanted[review.label] -= 1
            target = folder / review.label[:3] / Path(review.source).name
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(review.text, encoding="utf-8")
            written.append(review)
        if not any(wanted.values()):
            break
    return written


def write_random_sample(data, count: int, folder: Path, seed: int = 0) -> int:
    """count/2 reviews of each label, drawn at random (seeded) from the test split, under folder/test/."""
    by_label = {}
    for review in read_reviews(data, split="test"):
        by_label.setdefault(review.label, []).append(review)
    rng, written = random.Random(seed), 0
    for label, reviews in sorted(by_label.items()):
        for review in rng.sample(reviews, min(len(reviews), count // len(by_label))):
            target = folder / "test" / label[:3] / Path(review.source).name
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(review.text, encoding="utf-8")
            written += 1
    return written


def main():
    parser = argparse.ArgumentParser(description="A seeded, balanced random sample of the IMDB test reviews")
    add_data_option(parser)
    parser.add_argument("--reviews", type=int, default=10000, help="how many, half of each label")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", required=True, help="new directory for the sample")
    args = parser.parse_args()
    print(f"Wrote {write_random_sample(args.data, args.reviews, Path(args.out), args.seed)} reviews to {args.out}")


if __name__ == "__main__":
    main()
