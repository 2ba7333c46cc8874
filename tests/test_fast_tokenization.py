"""The compiled tokenizer must give exactly the ids of `bertvino.core.tokenization.FullTokenizer` (Google's), always.

Every test compares `FastTokenizer` with the Python reference on the shipped model's real BERT vocab (30,522 word
pieces), for both values of do_lower_case: hand-made adversarial texts, sample reviews, seeded random Unicode and
hypothesis-generated text, then whole model inputs after truncation.
"""

import random
import unicodedata

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bertvino.core.bundle import load_bundle
from bertvino.core.errors import BertvinoError
from bertvino.core.fast_tokenization import TOKENIZER_ENV, FastTokenizer, load_tokenizer
from bertvino.core.features import Truncation, encode, encode_batch, pad_batch
from bertvino.models import find_model
from bertvino.core.tokenization import FullTokenizer

VOCAB_FILE = str(find_model() / "vocab.txt")  # the shipped model's, a real BERT vocab

# Each line aims at one place where Hugging Face's pipeline and Google's could part.
ADVERSARIAL_TEXTS = [
    "",
    " ",
    "\t\r\n",
    "Hello, World!",
    "UNwant\u00e9d,running",
    "don't stop-believing... (really) [CLS] [SEP] [UNK] [PAD] ##ing",
    "$5.99 + 10% ^ `backtick` <tag> a|b ~tilde~ _under_score_ @user #hash {brace}",
    "a" * 199 + " " + "b" * 200 + " " + "c" * 201 + " " + "d" * 1000,  # the 200-character word limit
    "é" * 201 + " " + "e\u0301" * 150,  # over the limit only after accent stripping decomposes it
    "Café naïve résumé Ångström Œuvre ﬁnal Straße İstanbul ǅemal",  # accents, ligatures, dotted capital I
    "ΟΔΟΣ Σ ΣΑΣ. σοφός ΌΣΟΣ",  # capital sigma, which Python lower-cases by context (final sigma)
    "Ελληνικά Русский текст Ёлка Українська ქართული Հայերեն",
    "中文字符测试 日本語のテキスト 한국어 텍스트 ㄱㄴ ｶﾀｶﾅ",  # CJK ideographs are split, kana and Hangul are not
    "\u3400\u4dbf\U00020000\U0002a6df\U0002b820\U0002b91f\U0002b920\uf900\U0002f800",  # CJK block edges
    "zero\u200bwidth\u200cjoin\u200dner\ufeffbom\u2060word\u00adsoft",  # format characters (Cf) vanish
    "ctrl\x00\x01\x07\x0b\x0c\x1b\x7f\x85\x9fchars\ufffdreplacement",
    "line\u2028para\u2029nbsp\u00a0thin\u2009ideo\u3000ogham\u1680mongol\u180evowel",  # exotic whitespace
    "private\ue000use \U000f0000 unassigned\u0378\U000e0080 noncharacter\ufdd0\uffff",
    "lone surrogate \ud800 here",
    "emoji 😀👍🏽 👨‍👩‍👧 flags 🇫🇷 ⚠️ ★ ♥ ©®™ € £ ¥ ₹",
    "math ∑∫√∞ ≠ ≤ ½ ² ³ ⁴ ① arrows → ⇒",
    "quotes “smart” ‘single’ «guillemets» „low“ — dash – en ― bar … ellipsis ¿que? ¡si!",
    "combining a\u0301\u0302\u0303 stacked \u0345\u0301 Mc\u0903 enclosing\u20dd cgj\u034f",
    "\U0001d165\u0301\U0001d16d music marks with nonzero combining class",
    "Tiếng Việt có dấu: Người đàn ông",
    "हिन्दी पाठ தமிழ் ไทยภาษา العربية עברית",
    "x\u0300" * 3 + "\u0345Ι\u0399",
]

SAMPLE_REVIEWS = [
    "This movie was a complete waste of time. The plot made no sense and the acting was wooden.<br />Avoid it!",
    "I loved every minute of it!!! Best film of 2006, 10/10 -- the soundtrack (by Hans Zimmer) is superb.",
    "Not bad, not great. The director's earlier work (e.g. \"Amélie\") was far better; 6/10.",
    "Absolutely AWFUL. Who thought casting him as Napoléon was a good idea?? ...and the ending?!",
    "A quiet, beautifully shot drama about a family in 1950s Québec; the lead actress is mesmerizing.",
]


@pytest.fixture(scope="module", params=[True, False], ids=["uncased", "cased"])
def tokenizers(request):
    """(fast, reference) over the shipped vocab, with the same do_lower_case."""
    return FastTokenizer(VOCAB_FILE, request.param), FullTokenizer(VOCAB_FILE, request.param)


def reference_ids(reference, text):
    return reference.convert_tokens_to_ids(reference.tokenize(text))


def assert_same_ids(fast, reference, texts):
    texts = list(texts)
    expected = [reference_ids(reference, text) for text in texts]
    assert fast.piece_ids(texts) == expected
    for text, ids in zip(texts, expected):  # one at a time too: the unbatched path
        assert fast.convert_tokens_to_ids(fast.tokenize(text)) == ids, repr(text)


def test_adversarial_texts(tokenizers):
    assert_same_ids(*tokenizers, ADVERSARIAL_TEXTS)


def test_sample_reviews_go_through_the_compiled_tokenizer(tokenizers):
    fast, reference = tokenizers
    before = fast.fallback_texts
    assert_same_ids(fast, reference, SAMPLE_REVIEWS)
    assert fast.fallback_texts == before  # Latin accents and ordinary punctuation need no fallback


def test_each_adversarial_character_alone(tokenizers):
    """Every character of the adversarial texts inside a word, next to punctuation and to CJK."""
    chars = sorted(set("".join(ADVERSARIAL_TEXTS)))
    assert_same_ids(*tokenizers, [f"Ab{char}cD {char}, 中{char}." for char in chars])


@pytest.mark.parametrize("text", ["ΟΔΟΣ", "private\ue000use", "lone \ud800", "new\u061dmark", "\U0002b820"])
def test_texts_the_compiled_tokenizer_gets_wrong_fall_back(text):
    """Final sigma, private use, surrogates, punctuation newer than Hugging Face's Unicode tables (U+061D, Unicode
    14) and Google's CJK block that Hugging Face's range misses go to the Python tokenizer."""
    fast = FastTokenizer(VOCAB_FILE, do_lower_case=True)
    assert not fast.can_compile(text)
    assert fast.piece_ids([text, "plain text"]) == [reference_ids(fast.reference, text),
                                                     reference_ids(fast.reference, "plain text")]
    assert fast.fallback_texts == 1


def test_ascii_never_falls_back(tokenizers):
    fast, reference = tokenizers
    text = "".join(map(chr, range(128)))
    assert fast.can_compile(text)
    assert_same_ids(fast, reference, [text, text[::-1], text.upper()])


# Ranges where the two pipelines could disagree, and the whole of Unicode.
RANDOM_RANGES = [(0x20, 0x7e), (0x80, 0x24f), (0x300, 0x36f), (0x370, 0x52f), (0x2000, 0x206f), (0x3000, 0x30ff),
                 (0x4e00, 0x4e20), (0xac00, 0xac20), (0xe000, 0xe010), (0xfe00, 0xff65), (0x1f300, 0x1f64f),
                 (0x2b800, 0x2b940), (0x0, 0x10ffff)]


def random_texts(count: int, keep=lambda char: True, seed=20261124) -> list:
    """`count` seeded random strings of up to 24 characters from RANDOM_RANGES (and some plain ones), with only the
    characters `keep` accepts."""
    rng = random.Random(seed)
    texts = []
    for _ in range(count):
        chars = []
        for _ in range(rng.randint(0, 24)):
            low, high = rng.choice(RANDOM_RANGES)
            char = chr(rng.randint(low, high)) if rng.random() < 0.6 else rng.choice(" ,.'aZé")
            if keep(char):
                chars.append(char)
        texts.append("".join(chars))
    return texts


def known_to_differ(char: str, do_lower_case: bool) -> bool:
    """The characters on which core/fast_tokenization.py's docstring says the compiled pipeline may part from
    Google's, worked out here from that list, not by asking `FastTokenizer`: private use, surrogates, the CJK block
    Hugging Face's range misses, and when lower-casing the capital sigma and characters whose decomposition holds a
    combining mark that is not non-spacing."""
    if unicodedata.category(char) in ("Co", "Cs") or 0x2B820 <= ord(char) <= 0x2B91F:
        return True
    if not do_lower_case:
        return False
    parts = unicodedata.normalize("NFD", char) + unicodedata.normalize("NFD", char.lower())
    return char == "\u03a3" or any(unicodedata.combining(part) and unicodedata.category(part) != "Mn"
                                   for part in parts)


def test_seeded_random_unicode_goes_through_the_compiled_tokenizer(tokenizers):
    """Random strings without the characters known to differ: every one is tokenized by the compiled tokenizer
    (none falls back, so none compares the reference with itself), with Google's ids."""
    fast, reference = tokenizers
    texts = random_texts(600, keep=lambda char: not known_to_differ(char, fast.do_lower_case))
    assert len({char for text in texts for char in text if not char.isascii()}) > 1500  # a wide draw
    before = fast.fallback_texts
    assert_same_ids(fast, reference, texts)
    assert fast.fallback_texts - before == 0


def test_seeded_random_unicode_falls_back_exactly_where_expected(tokenizers):
    """The same draw with every character: the texts holding a character known to differ (about 61 %) go to the
    Python tokenizer whole, and only they; the others through the compiled one."""
    fast, reference = tokenizers
    texts = random_texts(600)
    differing = sum(any(known_to_differ(char, fast.do_lower_case) for char in text) for text in texts)
    assert 300 < differing < 450
    before = fast.fallback_texts
    assert_same_ids(fast, reference, texts)
    assert fast.fallback_texts - before == 2 * differing  # assert_same_ids tokenizes each text twice


@settings(max_examples=300, derandomize=True, deadline=None, database=None)  # same examples every run
@given(text=st.text(max_size=40))
def test_hypothesis_text(tokenizers, text):
    assert_same_ids(*tokenizers, [text])


@pytest.mark.parametrize("max_seq_length, truncation", [
    (3, Truncation()), (3, Truncation(head_tokens=0)), (3, Truncation(head_tokens=1)),
    (16, Truncation()), (16, Truncation(head_tokens=0)), (16, Truncation(head_tokens=5)),
    (16, Truncation(head_tokens=14)), (128, Truncation()), (128, Truncation(head_tokens=64)),
], ids=str)
def test_model_inputs_after_truncation(tokenizers, max_seq_length, truncation):
    fast, reference = tokenizers
    texts = SAMPLE_REVIEWS + ADVERSARIAL_TEXTS
    expected = [encode(reference, text, max_seq_length, truncation) for text in texts]
    got = encode_batch(fast, texts, max_seq_length, truncation)
    assert got == expected
    for name, array in pad_batch(got, pad_to=max_seq_length).items():
        assert (array == pad_batch(expected, pad_to=max_seq_length)[name]).all(), name


def test_bundle_tokenizer_is_the_fast_one_unless_told(monkeypatch):
    bundle = load_bundle(find_model())
    monkeypatch.delenv(TOKENIZER_ENV, raising=False)
    assert isinstance(bundle.tokenizer(), FastTokenizer)
    monkeypatch.setenv(TOKENIZER_ENV, "python")
    assert isinstance(bundle.tokenizer(), FullTokenizer)


def test_unknown_tokenizer_choice_is_a_clear_error(monkeypatch):
    monkeypatch.setenv(TOKENIZER_ENV, "rust")
    with pytest.raises(BertvinoError, match=f"{TOKENIZER_ENV}='rust'"):
        load_tokenizer(VOCAB_FILE)
