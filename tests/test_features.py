"""Tests for bertvino.core.features: encode, Truncation and pad_batch."""

import dataclasses

import numpy as np
import pytest

from bertvino.core.errors import BertvinoError
from bertvino.core.features import Truncation, encode, pad_batch
from bertvino.core.tokenization import FullTokenizer

PAD, UNK, CLS, SEP = 0, 1, 2, 3
WORDS = ["the", "dog", "is", "hair", "##y", "."]  # ids 4..9
LETTERS = list("abcdefghij")  # ids 10..19


def letter_ids(letters):
    return [10 + LETTERS.index(letter) for letter in letters]


@pytest.fixture
def tokenizer(tmp_path):
    path = tmp_path / "vocab.txt"
    path.write_text("\n".join(["[PAD]", "[UNK]", "[CLS]", "[SEP]", *WORDS, *LETTERS]) + "\n", encoding="utf-8")
    return FullTokenizer(path)


def google_convert_single_example(tokenizer, text, max_seq_length):
    """Google's run_classifier.convert_single_example for a single text, minus labels and logging."""
    tokens_a = tokenizer.tokenize(text)
    if len(tokens_a) > max_seq_length - 2:
        tokens_a = tokens_a[0 : (max_seq_length - 2)]
    tokens = ["[CLS]", *tokens_a, "[SEP]"]
    segment_ids = [0] * len(tokens)
    input_ids = tokenizer.convert_tokens_to_ids(tokens)
    input_mask = [1] * len(input_ids)
    while len(input_ids) < max_seq_length:
        input_ids.append(0)
        input_mask.append(0)
        segment_ids.append(0)
    return input_ids, input_mask, segment_ids


# --- encode ------------------------------------------------------------------------------------------


def test_encode_short_text(tokenizer):
    assert encode(tokenizer, "The dog is hairy.", max_seq_length=16) == [CLS, 4, 5, 6, 7, 8, 9, SEP]


def test_encode_empty_text(tokenizer):
    assert encode(tokenizer, "", max_seq_length=8) == [CLS, SEP]


def test_encode_unknown_word(tokenizer):
    assert encode(tokenizer, "the cat", max_seq_length=8) == [CLS, 4, UNK, SEP]


def test_encode_truncates_to_max_seq_length(tokenizer):
    text = "a b c d e f g h i j"
    assert encode(tokenizer, text, max_seq_length=5) == [CLS, *letter_ids("abc"), SEP]
    assert len(encode(tokenizer, text, max_seq_length=12)) == 12  # exactly fits: 10 pieces + 2
    assert encode(tokenizer, text, max_seq_length=12) == [CLS, *letter_ids("abcdefghij"), SEP]


def test_encode_truncates_word_pieces_not_words(tokenizer):
    # "hairy" is two pieces; with room for 4, the 4th piece ("hair") is kept and "##y" is cut.
    assert encode(tokenizer, "the dog is hairy", max_seq_length=6) == [CLS, 4, 5, 6, 7, SEP]


def test_encode_smallest_max_seq_length(tokenizer):
    assert encode(tokenizer, "a b c", max_seq_length=3) == [CLS, *letter_ids("a"), SEP]


@pytest.mark.parametrize("max_seq_length", [2, 1, 0, -5, 3.0, "128", True, None])
def test_encode_rejects_bad_max_seq_length(tokenizer, max_seq_length):
    with pytest.raises(BertvinoError, match="max_seq_length"):
        encode(tokenizer, "a", max_seq_length=max_seq_length)


@pytest.mark.parametrize("max_seq_length", [3, 4, 5, 8, 12, 20])
@pytest.mark.parametrize("text", ["", "a", "The dog is hairy.", "a b c d e f g h i j", "the cat is hairy , j j j"])
def test_encode_then_pad_matches_googles_convert_single_example(tokenizer, text, max_seq_length):
    google_ids, google_mask, google_segments = google_convert_single_example(tokenizer, text, max_seq_length)
    batch = pad_batch([encode(tokenizer, text, max_seq_length)], pad_to=max_seq_length)
    assert batch["input_ids"][0].tolist() == google_ids
    assert batch["input_mask"][0].tolist() == google_mask
    assert batch["segment_ids"][0].tolist() == google_segments


# --- head+tail truncation ----------------------------------------------------------------------------


TEN_LETTERS = "a b c d e f g h i j"


def test_head_tail_keeps_first_h_and_last_rest(tokenizer):
    # max_seq_length 7 leaves room for 5 pieces: the first 2 and the last 3.
    ids = encode(tokenizer, TEN_LETTERS, max_seq_length=7, truncation=Truncation(head_tokens=2))
    assert ids == [CLS, *letter_ids("ab"), *letter_ids("hij"), SEP]


def test_head_tail_with_zero_head_keeps_only_the_tail(tokenizer):
    ids = encode(tokenizer, TEN_LETTERS, max_seq_length=7, truncation=Truncation(head_tokens=0))
    assert ids == [CLS, *letter_ids("fghij"), SEP]


def test_head_tail_with_all_head_is_plain_head_truncation(tokenizer):
    ids = encode(tokenizer, TEN_LETTERS, max_seq_length=7, truncation=Truncation(head_tokens=5))
    assert ids == encode(tokenizer, TEN_LETTERS, max_seq_length=7) == [CLS, *letter_ids("abcde"), SEP]


def test_head_tail_leaves_short_text_alone(tokenizer):
    for max_seq_length in (12, 20):
        ids = encode(tokenizer, TEN_LETTERS, max_seq_length=max_seq_length, truncation=Truncation(head_tokens=1))
        assert ids == [CLS, *letter_ids("abcdefghij"), SEP]


def test_head_tail_counts_word_pieces(tokenizer):
    # Pieces: the dog is hair ##y . -> head 1 ("the") + tail 2 ("##y", ".").
    ids = encode(tokenizer, "The dog is hairy.", max_seq_length=5, truncation=Truncation(head_tokens=1))
    assert ids == [CLS, 4, 8, 9, SEP]


def test_head_longer_than_room_is_an_error(tokenizer):
    with pytest.raises(BertvinoError, match="head\\+tail:6") as excinfo:
        encode(tokenizer, TEN_LETTERS, max_seq_length=7, truncation=Truncation(head_tokens=6))
    assert "max_seq_length 7" in str(excinfo.value)
    # Checked even when the text is short enough not to need truncating.
    with pytest.raises(BertvinoError):
        encode(tokenizer, "a", max_seq_length=7, truncation=Truncation(head_tokens=6))


# --- Truncation --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "spec, truncation",
    [("head", Truncation()), ("head+tail:0", Truncation(0)), ("head+tail:128", Truncation(head_tokens=128))],
)
def test_truncation_string_round_trip(spec, truncation):
    assert Truncation.from_string(spec) == truncation
    assert str(truncation) == spec
    assert Truncation.from_string(str(truncation)) == truncation


def test_truncation_default_is_head():
    assert Truncation().head_tokens is None
    assert str(Truncation()) == "head"


@pytest.mark.parametrize(
    "spec",
    [
        "",
        "tail",
        "HEAD",
        " head",
        "head ",
        "head+tail",
        "head+tail:",
        "head+tail:-1",
        "head+tail:+1",
        "head+tail:1.5",
        "head+tail:abc",
        "head+tail: 128",
        "head+tail:1_000",
        "head+tail:\u0661\u0662",  # Arabic-Indic digits, which int() would accept
        "head+tail:128:382",
        None,
        128,
    ],
)
def test_truncation_parse_errors(spec):
    with pytest.raises(BertvinoError) as excinfo:
        Truncation.from_string(spec)
    message = str(excinfo.value)
    assert repr(spec) in message
    assert "head+tail:H" in message
    assert "\n" not in message


@pytest.mark.parametrize("head_tokens", [-1, 1.5, "3", True])
def test_truncation_rejects_bad_head_tokens(head_tokens):
    with pytest.raises(BertvinoError, match="head tokens"):
        Truncation(head_tokens=head_tokens)


def test_truncation_is_frozen_and_hashable():
    truncation = Truncation(head_tokens=128)
    with pytest.raises(dataclasses.FrozenInstanceError):
        truncation.head_tokens = 5
    assert {truncation, Truncation(128), Truncation()} == {Truncation(128), Truncation()}


# --- pad_batch ---------------------------------------------------------------------------------------


def test_pad_batch_to_longest():
    batch = pad_batch([[CLS, 4, 5, SEP], [CLS, SEP], [CLS, 6, SEP]])
    assert set(batch) == {"input_ids", "input_mask", "segment_ids"}
    for array in batch.values():
        assert array.shape == (3, 4)
        assert array.dtype == np.int32
    assert batch["input_ids"].tolist() == [[CLS, 4, 5, SEP], [CLS, SEP, PAD, PAD], [CLS, 6, SEP, PAD]]
    assert batch["input_mask"].tolist() == [[1, 1, 1, 1], [1, 1, 0, 0], [1, 1, 1, 0]]
    assert batch["segment_ids"].tolist() == [[0, 0, 0, 0]] * 3


def test_pad_batch_to_fixed_length():
    batch = pad_batch([[CLS, 4, SEP]], pad_to=6)
    assert batch["input_ids"].tolist() == [[CLS, 4, SEP, 0, 0, 0]]
    assert batch["input_mask"].tolist() == [[1, 1, 1, 0, 0, 0]]
    assert batch["segment_ids"].shape == (1, 6)


def test_pad_batch_exact_fit():
    batch = pad_batch([[CLS, 4, SEP]], pad_to=3)
    assert batch["input_ids"].tolist() == [[CLS, 4, SEP]]
    assert batch["input_mask"].tolist() == [[1, 1, 1]]


def test_pad_batch_custom_pad_id():
    batch = pad_batch([[CLS, SEP], [CLS, 4, 5, SEP]], pad_id=99)
    assert batch["input_ids"].tolist() == [[CLS, SEP, 99, 99], [CLS, 4, 5, SEP]]
    assert batch["input_mask"].tolist() == [[1, 1, 0, 0], [1, 1, 1, 1]]


def test_pad_batch_too_long_is_value_error():
    with pytest.raises(ValueError, match="pad_to=3"):
        pad_batch([[CLS, SEP], [CLS, 4, 5, SEP]], pad_to=3)


def test_pad_batch_accepts_any_iterable():
    batch = pad_batch(ids for ids in ([CLS, SEP], (CLS, 4, SEP)))
    assert batch["input_ids"].tolist() == [[CLS, SEP, PAD], [CLS, 4, SEP]]


def test_pad_batch_empty_batch():
    assert pad_batch([])["input_ids"].shape == (0, 0)
    assert pad_batch([], pad_to=8)["input_mask"].shape == (0, 8)
