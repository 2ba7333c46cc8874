"""The sample the scoring benchmarks share: the first N/2 positive and N/2 negative IMDB test reviews, written as an
aclImdb-style folder so `bertvino score` reads them as users' files, and the options that choose it."""

from pathlib import Path

from bertvino.reviews import read_reviews
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
