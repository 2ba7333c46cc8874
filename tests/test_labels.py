"""Label names: checked once, matched from the spellings data uses, and found in training data."""

import pytest

from bertvino.core.errors import BertvinoError
from bertvino.core.labels import SENTIMENT_LABELS, check_labels, labels_from_data, match_label, parse_label_list


def test_sentiment_labels_are_negative_then_positive():
    assert SENTIMENT_LABELS == ("negative", "positive")


@pytest.mark.parametrize("value", ["a", "a,a", "a,", " ,b"])
def test_bad_label_lists_are_refused(value):
    with pytest.raises(BertvinoError, match="two or more distinct, non-empty"):
        parse_label_list(value)


def test_a_label_list_keeps_its_order():
    assert parse_label_list("sports, politics,tech") == ("sports", "politics", "tech")
    assert check_labels(["x", "y"]) == ("x", "y")


@pytest.mark.parametrize("value, expected", [
    ("positive", "positive"), ("Pos", "positive"), ("1", "positive"), ("TRUE", "positive"),
    ("neg", "negative"), ("0", "negative"), ("false", "negative"), ("maybe", None), (None, None)])
def test_sentiment_spellings_match_a_negative_positive_model(value, expected):
    assert match_label(value, SENTIMENT_LABELS) == expected


def test_other_models_match_their_own_labels_only():
    labels = ("0", "1", "2")
    assert [match_label(v, labels) for v in ("0", "1", "2", "pos", "3")] == ["0", "1", "2", None, None]
    assert match_label("Sports", ("politics", "sports")) == "sports"


def test_labels_from_data():
    assert labels_from_data(["pos", "neg", "neg"]) == SENTIMENT_LABELS
    assert labels_from_data(["1", "0"]) == SENTIMENT_LABELS
    assert labels_from_data(["tech", "sports", "politics", "sports"]) == ("politics", "sports", "tech")
    assert labels_from_data(["0", "1", "2"]) == ("0", "1", "2")
    with pytest.raises(BertvinoError, match="needs at least two"):
        labels_from_data(["spam", "spam"])
