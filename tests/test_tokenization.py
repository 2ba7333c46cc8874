"""Tests for bertvino.core.tokenization.

The first group ports every case of google-research/bert's `tokenization_test.py`, expected outputs
copied as they are there; the rest pin down behaviour of Google's code that the port must keep.
"""

import pytest

from bertvino.core import tokenization
from bertvino.core.errors import BertvinoError
from bertvino.core.tokenization import BasicTokenizer, FullTokenizer, WordpieceTokenizer, load_vocab

# Google's test vocab. Its ids are the expected outputs below; bertvino also needs [PAD], so that goes
# at the end where it shifts nothing.
GOOGLE_TEST_TOKENS = ["[UNK]", "[CLS]", "[SEP]", "want", "##want", "##ed", "wa", "un", "runn", "##ing", ","]


def write_vocab(tmp_path, tokens, name="vocab.txt"):
    path = tmp_path / name
    path.write_text("".join(token + "\n" for token in tokens), encoding="utf-8")
    return path


def make_tokenizer(tmp_path, extra_tokens=(), do_lower_case=True):
    """A FullTokenizer over [PAD] [UNK] [CLS] [SEP] plus `extra_tokens`."""
    tokens = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", *extra_tokens]
    return FullTokenizer(write_vocab(tmp_path, tokens), do_lower_case=do_lower_case)


def google_wordpiece_vocab():
    return {token: index for index, token in enumerate(GOOGLE_TEST_TOKENS[:-1])}


# --- Ported from google-research/bert tokenization_test.py -------------------------------------------


def test_full_tokenizer(tmp_path):
    tokenizer = FullTokenizer(write_vocab(tmp_path, [*GOOGLE_TEST_TOKENS, "[PAD]"]))

    tokens = tokenizer.tokenize("UNwant\u00E9d,running")
    assert tokens == ["un", "##want", "##ed", ",", "runn", "##ing"]
    assert tokenizer.convert_tokens_to_ids(tokens) == [7, 4, 5, 10, 8, 9]


def test_chinese():
    assert BasicTokenizer().tokenize("ah\u535A\u63A8zz") == ["ah", "\u535A", "\u63A8", "zz"]


def test_basic_tokenizer_lower():
    tokenizer = BasicTokenizer(do_lower_case=True)
    assert tokenizer.tokenize(" \tHeLLo!how  \n Are yoU?  ") == ["hello", "!", "how", "are", "you", "?"]
    assert tokenizer.tokenize("H\u00E9llo") == ["hello"]


def test_basic_tokenizer_no_lower():
    tokenizer = BasicTokenizer(do_lower_case=False)
    assert tokenizer.tokenize(" \tHeLLo!how  \n Are yoU?  ") == ["HeLLo", "!", "how", "Are", "yoU", "?"]


def test_wordpiece_tokenizer():
    tokenizer = WordpieceTokenizer(vocab=google_wordpiece_vocab())
    assert tokenizer.tokenize("") == []
    assert tokenizer.tokenize("unwanted running") == ["un", "##want", "##ed", "runn", "##ing"]
    assert tokenizer.tokenize("unwantedX running") == ["[UNK]", "runn", "##ing"]


def test_convert_tokens_to_ids():
    tokens = ["un", "##want", "##ed", "runn", "##ing"]
    assert tokenization.convert_tokens_to_ids(google_wordpiece_vocab(), tokens) == [7, 4, 5, 8, 9]


def test_is_whitespace():
    for char in [" ", "\t", "\r", "\n", "\u00A0"]:
        assert tokenization._is_whitespace(char), repr(char)
    for char in ["A", "-"]:
        assert not tokenization._is_whitespace(char), repr(char)


def test_is_control():
    assert tokenization._is_control("\u0005")
    for char in ["A", " ", "\t", "\r"]:
        assert not tokenization._is_control(char), repr(char)


def test_is_punctuation():
    for char in ["-", "$", "`", "."]:
        assert tokenization._is_punctuation(char), repr(char)
    for char in ["A", " "]:
        assert not tokenization._is_punctuation(char), repr(char)


# --- Lower-casing and accents ------------------------------------------------------------------------


def test_lower_case_strips_accents():
    assert BasicTokenizer(do_lower_case=True).tokenize("Héllo Crème BRÛLÉE naïve") == [
        "hello",
        "creme",
        "brulee",
        "naive",
    ]


def test_lower_case_strips_combining_marks_already_decomposed():
    assert BasicTokenizer(do_lower_case=True).tokenize("He\u0301llo") == ["hello"]


def test_cased_keeps_accents_and_does_not_normalize():
    tokenizer = BasicTokenizer(do_lower_case=False)
    assert tokenizer.tokenize("Héllo Crème") == ["Héllo", "Crème"]
    # No NFC/NFD step when cased: decomposed input stays decomposed.
    assert tokenizer.tokenize("He\u0301llo") == ["He\u0301llo"]


def test_full_tokenizer_cased_vs_uncased(tmp_path):
    extra = ["hello", "Héllo", "##llo", "he"]
    assert make_tokenizer(tmp_path, extra, do_lower_case=True).tokenize("Héllo") == ["hello"]
    assert make_tokenizer(tmp_path, extra, do_lower_case=False).tokenize("Héllo") == ["Héllo"]


# --- CJK -----------------------------------------------------------------------------------------------


def test_cjk_ideographs_become_single_char_tokens():
    assert BasicTokenizer().tokenize("我爱北京天安门") == ["我", "爱", "北", "京", "天", "安", "门"]
    assert BasicTokenizer().tokenize("BERT模型") == ["bert", "模", "型"]


def test_kana_and_hangul_are_not_split_per_character():
    # Google's "Chinese character" ranges are the CJK ideograph blocks only.
    assert BasicTokenizer(do_lower_case=False).tokenize("こんにちは 안녕하세요") == ["こんにちは", "안녕하세요"]


def test_lower_casing_decomposes_hangul_and_drops_kana_voicing_marks():
    # A side effect of NFD accent stripping that Google's uncased models share: Hangul syllables come
    # out as conjoining jamo (category Lo, so kept), and the dakuten of が (a combining mark, Mn) is
    # dropped, leaving か.
    assert BasicTokenizer(do_lower_case=True).tokenize("한") == ["\u1112\u1161\u11AB"]
    assert BasicTokenizer(do_lower_case=True).tokenize("が") == ["か"]


def test_is_chinese_char_ranges():
    for code_point in [0x4E00, 0x9FFF, 0x3400, 0x20000, 0x2A700, 0x2B820, 0xF900, 0x2F800]:
        assert tokenization._is_chinese_char(code_point), hex(code_point)
    for code_point in [ord("a"), ord("あ"), ord("한"), 0x3000, 0x4DC0]:
        assert not tokenization._is_chinese_char(code_point), hex(code_point)


def test_full_tokenizer_cjk(tmp_path):
    tokenizer = make_tokenizer(tmp_path, ["北", "京"])
    assert tokenizer.tokenize("北京市") == ["北", "京", "[UNK]"]


# --- Punctuation -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text, expected",
    [
        ("¿Qué pasa?", ["¿", "que", "pasa", "?"]),
        ("$5", ["$", "5"]),
        ("`code`", ["`", "code", "`"]),
        ("a^b+c<d|e~f", ["a", "^", "b", "+", "c", "<", "d", "|", "e", "~", "f"]),
        ("wait—what…", ["wait", "—", "what", "…"]),
        ("«guillemets»", ["«", "guillemets", "»"]),
        ("don't", ["don", "'", "t"]),
        ("...", [".", ".", "."]),
    ],
)
def test_punctuation_is_split_off(text, expected):
    assert BasicTokenizer(do_lower_case=True).tokenize(text) == expected


def test_non_ascii_symbols_are_not_punctuation():
    # Only ASCII symbols count as punctuation; Unicode symbols (S*) such as € and © stay in the word.
    assert not tokenization._is_punctuation("€")
    assert BasicTokenizer().tokenize("5€ ©2018") == ["5€", "©2018"]


# --- Cleaning: control, zero-width and invalid characters --------------------------------------------


def test_zero_width_space_is_control_and_removed():
    assert tokenization._is_control("\u200B")  # category Cf
    # Removed, not turned into a space: the two halves join.
    assert BasicTokenizer().tokenize("zero\u200Bwidth") == ["zerowidth"]


@pytest.mark.parametrize(
    "char",
    [
        "\x00",  # NUL
        "\uFFFD",  # replacement character
        "\x07",  # bell (Cc)
        "\x7F",  # delete (Cc)
        "\u200D",  # zero-width joiner (Cf)
        "\uFEFF",  # byte-order mark / zero-width no-break space (Cf)
        "\u00AD",  # soft hyphen (Cf)
    ],
)
def test_invalid_and_control_chars_are_removed(char):
    assert BasicTokenizer().tokenize(f"ab{char}cd {char}") == ["abcd"]


def test_private_use_chars_are_kept():
    # Only Cc and Cf count as control in Google's current code (an older version dropped all of C*).
    assert not tokenization._is_control("\uE000")
    assert BasicTokenizer().tokenize("a\uE000b") == ["a\uE000b"]


def test_tab_newline_carriage_return_are_whitespace():
    assert BasicTokenizer().tokenize("a\tb\nc\rd\r\ne") == ["a", "b", "c", "d", "e"]
    for char in ["\t", "\n", "\r"]:
        assert tokenization._is_whitespace(char)
        assert not tokenization._is_control(char)


def test_unicode_space_separators_are_whitespace():
    assert BasicTokenizer().tokenize("a\u00A0b\u3000c\u2009d") == ["a", "b", "c", "d"]


# --- Word pieces ---------------------------------------------------------------------------------------


def test_long_word_is_unk():
    vocab = {"[UNK]": 0, "a": 1, "##a": 2}
    assert WordpieceTokenizer(vocab, max_input_chars_per_word=100).tokenize("a" * 101) == ["[UNK]"]
    assert WordpieceTokenizer(vocab, max_input_chars_per_word=100).tokenize("a" * 100) == ["a"] + ["##a"] * 99


def test_default_word_length_limit_is_googles_200(tmp_path):
    tokenizer = make_tokenizer(tmp_path, ["a", "##a"])
    assert tokenizer.tokenize("a" * 200) == ["a"] + ["##a"] * 199
    assert tokenizer.tokenize("a" * 201) == ["[UNK]"]
    assert tokenizer.tokenize("x " + "a" * 201 + " a") == ["[UNK]", "[UNK]", "a"]


def test_wordpiece_greedy_longest_match_first():
    vocab = {"[UNK]": 0, "un": 1, "una": 2, "##ffable": 3, "##aff": 4, "##able": 5}
    # "una" is longer than "un" and wins, though "##ffable" then fits and "un ##aff ##able" would too.
    assert WordpieceTokenizer(vocab).tokenize("unaffable") == ["una", "##ffable"]


def test_whole_word_is_unk_when_any_part_is_unknown(tmp_path):
    tokenizer = make_tokenizer(tmp_path, ["run", "##ning"])
    assert tokenizer.tokenize("running runningz") == ["run", "##ning", "[UNK]"]


@pytest.mark.parametrize("text", ["", " ", "  \t\n\r  ", "\u00A0\u3000"])
def test_empty_and_whitespace_only_text(tmp_path, text):
    assert BasicTokenizer().tokenize(text) == []
    assert WordpieceTokenizer({"[UNK]": 0}).tokenize(text) == []
    assert make_tokenizer(tmp_path).tokenize(text) == []


def test_text_of_only_removed_characters_is_empty(tmp_path):
    assert make_tokenizer(tmp_path).tokenize("\u200B\x00\uFFFD\x07") == []


def test_bytes_input_is_decoded_as_utf8(tmp_path):
    tokenizer = make_tokenizer(tmp_path, ["creme"])
    assert tokenizer.tokenize("Crème".encode("utf-8")) == ["creme"]


# --- Ids ---------------------------------------------------------------------------------------------


def test_ids_round_trip(tmp_path):
    tokenizer = make_tokenizer(tmp_path, ["the", "dog", "is", "hair", "##y", "."])
    tokens = tokenizer.tokenize("The dog is hairy.")
    assert tokens == ["the", "dog", "is", "hair", "##y", "."]
    ids = tokenizer.convert_tokens_to_ids(tokens)
    assert ids == [4, 5, 6, 7, 8, 9]
    assert tokenizer.convert_ids_to_tokens(ids) == tokens
    assert tokenizer.convert_ids_to_tokens([0, 1, 2, 3]) == ["[PAD]", "[UNK]", "[CLS]", "[SEP]"]


def test_unknown_token_or_id_is_key_error(tmp_path):
    # As in Google's code: tokenize() only yields vocab entries, so anything else is a caller bug.
    tokenizer = make_tokenizer(tmp_path)
    with pytest.raises(KeyError):
        tokenizer.convert_tokens_to_ids(["nope"])
    with pytest.raises(KeyError):
        tokenizer.convert_ids_to_tokens([99])


# --- Vocab loading -----------------------------------------------------------------------------------


def test_load_vocab_maps_tokens_to_line_numbers(tmp_path):
    vocab = load_vocab(write_vocab(tmp_path, ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "hello"]))
    assert list(vocab.items()) == [("[PAD]", 0), ("[UNK]", 1), ("[CLS]", 2), ("[SEP]", 3), ("hello", 4)]


def test_load_vocab_keeps_googles_line_semantics(tmp_path):
    path = tmp_path / "vocab.txt"
    # CRLF line ends, padding spaces, a blank line, a duplicate, a stray "\r" (tf.gfile drops it), a
    # character Python's own line splitting would break at (U+2028), and no newline at the end.
    path.write_bytes("[PAD]\r\n  [UNK] \r\n[CLS]\n\n[SEP]\nx\nx\nl\ra\u2028st".encode("utf-8"))
    vocab = load_vocab(path)
    assert list(vocab.items()) == [
        ("[PAD]", 0),
        ("[UNK]", 1),
        ("[CLS]", 2),
        ("", 3),  # the blank line still takes an index
        ("[SEP]", 4),
        ("x", 6),  # a duplicate keeps its first position but the last line's index
        ("la\u2028st", 7),
    ]
    tokenizer = FullTokenizer(path)
    assert tokenizer.inv_vocab == {0: "[PAD]", 1: "[UNK]", 2: "[CLS]", 3: "", 4: "[SEP]", 6: "x", 7: "la\u2028st"}


def assert_one_line_error_naming(excinfo, path, *fragments):
    message = str(excinfo.value)
    assert message.startswith(f"{path}: ")
    assert "\n" not in message
    for fragment in fragments:
        assert fragment in message


def test_missing_vocab_file(tmp_path):
    path = tmp_path / "no_such_vocab.txt"
    with pytest.raises(BertvinoError) as excinfo:
        FullTokenizer(path)
    assert_one_line_error_naming(excinfo, path, "cannot read")


def test_unreadable_vocab_file(tmp_path):
    # A directory cannot be read as a file (unlike a chmod 000 file, which root can still read).
    with pytest.raises(BertvinoError) as excinfo:
        load_vocab(tmp_path)
    assert_one_line_error_naming(excinfo, tmp_path, "cannot read")


def test_vocab_not_utf8(tmp_path):
    path = tmp_path / "vocab.txt"
    path.write_bytes("[PAD]\n[UNK]\n[CLS]\n[SEP]\ncrème\n".encode("latin-1"))
    with pytest.raises(BertvinoError) as excinfo:
        load_vocab(path)
    assert_one_line_error_naming(excinfo, path, "not UTF-8")


def test_empty_vocab_file(tmp_path):
    path = tmp_path / "vocab.txt"
    path.write_bytes(b"")
    with pytest.raises(BertvinoError) as excinfo:
        load_vocab(path)
    assert_one_line_error_naming(excinfo, path, "empty")


@pytest.mark.parametrize("missing", ["[PAD]", "[UNK]", "[CLS]", "[SEP]"])
def test_vocab_missing_required_token(tmp_path, missing):
    tokens = [token for token in ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "hello"] if token != missing]
    path = write_vocab(tmp_path, tokens)
    with pytest.raises(BertvinoError) as excinfo:
        FullTokenizer(path)
    assert_one_line_error_naming(excinfo, path, missing)


def test_vocab_with_byte_order_mark(tmp_path):
    path = tmp_path / "vocab.txt"
    path.write_bytes(b"\xef\xbb\xbf[PAD]\n[UNK]\n[CLS]\n[SEP]\n")
    with pytest.raises(BertvinoError) as excinfo:
        load_vocab(path)
    assert_one_line_error_naming(excinfo, path, "[PAD]", "byte-order mark")


def test_vocab_error_lists_every_missing_token(tmp_path):
    path = write_vocab(tmp_path, ["hello", "world"])
    with pytest.raises(BertvinoError) as excinfo:
        load_vocab(path)
    assert_one_line_error_naming(excinfo, path, "[PAD], [UNK], [CLS], [SEP]")
