"""Label names: what a classifier's outputs are called, and how the labels written in data map onto them.

A model's labels are an ordered tuple of two or more distinct names; position i is row i of the head
(`weight.npy`). They come from `--labels`, or from the training data: the label column of a CSV/JSONL file (any
strings) or the folders reviews sit in. Sentiment data spells its two labels many ways (aclImdb's `pos`/`neg`
folders, 1/0, true/false); data labelled only with those spellings gets `SENTIMENT_LABELS`, so IMDB-style data
trains the same negative/positive model whatever its spelling, and scores against it.
"""

from .errors import BertvinoError

# The two-way sentiment labels, in run_classifier-style IMDB order: index 0 = negative, 1 = positive. Also what a
# 2-way head is called when nothing else names its labels.
SENTIMENT_LABELS = ("negative", "positive")

_SENTIMENT_SPELLINGS = {"pos": "positive", "positive": "positive", "1": "positive", "true": "positive",
                        "neg": "negative", "negative": "negative", "0": "negative", "false": "negative"}


def check_labels(labels) -> tuple:
    """`labels` as a tuple, or BertvinoError unless they are two or more distinct non-empty names."""
    labels = tuple(str(label) for label in labels)
    if len(labels) < 2 or not all(label.strip() for label in labels) or len(set(labels)) != len(labels):
        raise BertvinoError(f"labels must be two or more distinct, non-empty names, not {','.join(labels)!r}")
    return labels


def parse_label_list(value: str) -> tuple:
    """--labels a,b,c -> ("a", "b", "c"), checked."""
    return check_labels(label.strip() for label in value.split(","))


def match_label(value: str | None, labels) -> str | None:
    """The label of `labels` that a label written in data means, or None when it names none of them.

    Exact match first, then ignoring case; for a negative/positive model also the sentiment spellings (pos, 1,
    true, ...).
    """
    if value is None:
        return None
    if value in labels:
        return value
    folded = {label.casefold(): label for label in labels}
    if value.casefold() in folded:
        return folded[value.casefold()]
    if tuple(labels) == SENTIMENT_LABELS:
        return _SENTIMENT_SPELLINGS.get(value.strip().lower())
    return None


def gold_label(value: str | None, labels) -> str | None:
    """A review's gold label for scoring: the model's label it means, else as written (counted apart, not guessed)."""
    return match_label(value, labels) or value


def labels_from_data(values) -> tuple:
    """The labels a model trained on data with these label values should have: negative/positive when every value
    is a sentiment spelling, else the distinct values sorted (so the same data always gives the same order)."""
    values = set(values)
    if values and all(value.strip().lower() in _SENTIMENT_SPELLINGS for value in values):
        return SENTIMENT_LABELS
    if len(values) < 2:
        raise BertvinoError(f"the training data has {len(values)} label{'s' if len(values) != 1 else ''} "
                            f"({', '.join(sorted(values))}); a classifier needs at least two")
    return tuple(sorted(values))
