"""Google's WordPiece ids at compiled speed: Hugging Face `tokenizers`, checked against `bertvino.core.tokenization`.

The pure-Python port of Google's tokenizer does about a thousand reviews a second on one core, which at INT8 speed
takes a real share of the two cores inference runs on. Hugging Face's Rust `tokenizers` library has the same
pipeline (BertNormalizer, BertPreTokenizer, WordPiece), does 3-4x the reviews per CPU second and spreads a batch
over every core (`benchmarks/tokenizer_check.py`), but it is not Google's code and differs on some characters:

- it removes private-use characters (Co), which Google keeps (and turns into [UNK]);
- it lower-cases one character at a time, so a final capital sigma becomes "σ" where Python's `str.lower` gives "ς";
- it strips accents before lower-casing, Google after (the same for almost every character);
- its CJK ranges start one block late (U+2B920 where Google has U+2B820);
- its Unicode tables are its own version, not the running Python's `unicodedata` (0.23 misses some
  punctuation and marks of recent versions, e.g. U+061D ARABIC END OF TEXT MARK, new in Unicode 14).

So `FastTokenizer` trusts the compiled tokenizer only with text made of characters it has *checked*: for each
character the first time it is seen, both pipelines split a few short probes around it ("a{c}a", "a {c} a", ...)
into words and must agree. Every step of both pipelines then works one character at a time, with two exceptions
ruled out before that check: the capital sigma (Python's lower-casing looks at its neighbours) and, when accents
are stripped, characters whose decomposition holds a combining mark that is not non-spacing (Mn), which canonical
reordering could move past its neighbours' marks. With those out, a text of checked characters normalizes to the
concatenation of its characters' images, splits into the same words, and WordPiece on the same vocab (the dict
`bertvino.core.tokenization.load_vocab` reads) with the same 200-character limit gives the same ids. Any text with an
unchecked or failing character goes to the Python tokenizer whole, so the ids are always Google's.

`BERTVINO_TOKENIZER=python` in the environment makes `load_tokenizer` return the Python tokenizer instead.
"""

import os
import unicodedata

from tokenizers import Tokenizer, models, normalizers, pre_tokenizers

from .errors import BertvinoError
from .tokenization import MAX_INPUT_CHARS_PER_WORD, FullTokenizer

TOKENIZER_ENV = "BERTVINO_TOKENIZER"
TOKENIZER_CHOICES = ("fast", "python")

# Python lower-cases it by context (final sigma), the compiled tokenizer never does.
_CAPITAL_SIGMA = "\u03a3"

# Short texts around a character whose words both pipelines must agree on: the character inside a word, alone,
# between spaces and next to itself. "a" has no case, accent or punctuation of its own to hide a difference.
_PROBES = ("a{}a", "{}", "a {} a", "{}{}")


def load_tokenizer(vocab_file, do_lower_case=True):
    """The tokenizer for classify, score and serve: `FastTokenizer`, or `FullTokenizer` if $BERTVINO_TOKENIZER
    says "python"."""
    choice = os.environ.get(TOKENIZER_ENV, "fast") or "fast"
    if choice not in TOKENIZER_CHOICES:
        raise BertvinoError(f"{TOKENIZER_ENV}={choice!r}: expected one of {', '.join(TOKENIZER_CHOICES)}")
    if choice == "python":
        return FullTokenizer(vocab_file, do_lower_case=do_lower_case)
    return FastTokenizer(vocab_file, do_lower_case=do_lower_case)


class FastTokenizer:
    """Google's word pieces and ids from Hugging Face's compiled tokenizer, with `FullTokenizer` as the fallback.

    Has `FullTokenizer`'s interface (`vocab`, `tokenize`, `convert_tokens_to_ids`, `piece_ids`), so
    `bertvino.core.features` takes either.
    """

    def __init__(self, vocab_file, do_lower_case=True):
        self.reference = FullTokenizer(vocab_file, do_lower_case=do_lower_case)
        self.vocab = self.reference.vocab
        self.do_lower_case = do_lower_case
        self.compiled = compiled_tokenizer(self.vocab, do_lower_case)
        self._checked_chars = set()  # characters on which the two pipelines were found to agree
        self._failed_chars = set()  # and those on which they may not
        self.fallback_texts = 0  # texts handed to the Python tokenizer so far, for benchmarks and tests
        # Checked up front, so that a pure-ASCII text (most English reviews) needs no per-character look-up.
        self._ascii_agrees = False  # until the line below has checked them
        self._ascii_agrees = self.can_compile("".join(map(chr, range(128))))

    def tokenize(self, text):
        """Word pieces of `text`, exactly as `FullTokenizer.tokenize` gives them."""
        if not self.can_compile(text):
            self.fallback_texts += 1
            return self.reference.tokenize(text)
        return self.compiled.encode(text, add_special_tokens=False).tokens

    def convert_tokens_to_ids(self, tokens):
        return self.reference.convert_tokens_to_ids(tokens)

    def convert_ids_to_tokens(self, ids):
        return self.reference.convert_ids_to_tokens(ids)

    def piece_ids(self, texts):
        """The word-piece ids of each text (no [CLS]/[SEP]), the checked texts encoded in one compiled batch."""
        texts = list(texts)
        compilable = [index for index, text in enumerate(texts) if self.can_compile(text)]
        ids = [None] * len(texts)
        # The _fast variant skips the character offsets, which we never use: about 40 % faster.
        encodings = self.compiled.encode_batch_fast([texts[index] for index in compilable], add_special_tokens=False)
        for index, encoding in zip(compilable, encodings):
            ids[index] = encoding.ids
        for index, text in enumerate(texts):
            if ids[index] is None:
                self.fallback_texts += 1
                ids[index] = self.reference.convert_tokens_to_ids(self.reference.tokenize(text))
        return ids

    def can_compile(self, text) -> bool:
        """Whether every character of `text` has been checked (now, if new) to tokenize alike in both pipelines."""
        if not isinstance(text, str):
            return False  # bytes: the Python tokenizer decodes them as Google's does
        if self._ascii_agrees and text.isascii():
            return True
        unchecked = set(text) - self._checked_chars
        if not unchecked:
            return True
        if unchecked & self._failed_chars:
            return False
        for char in unchecked:
            if self._char_agrees(char):
                self._checked_chars.add(char)
            else:
                self._failed_chars.add(char)
                return False
        return True

    def _char_agrees(self, char) -> bool:
        if self.do_lower_case and not _lowercases_and_strips_locally(char):
            return False
        reference = self.reference.basic_tokenizer
        for probe in (template.format(char, char) for template in _PROBES):
            try:
                normalized = self.compiled.normalizer.normalize_str(probe)
                words = [word for word, _ in self.compiled.pre_tokenizer.pre_tokenize_str(normalized)]
            except Exception:  # e.g. a lone surrogate, which Rust strings cannot hold
                return False
            if words != reference.tokenize(probe):
                return False
        return True


def compiled_tokenizer(vocab, do_lower_case) -> Tokenizer:
    """Hugging Face's BERT pipeline set up as Google's: same vocab dict, [UNK], 200-character word limit, accents
    stripped only when lower-casing. No special tokens are registered, so "[CLS]" in a text is split as Google
    splits it ("[", "cls", "]")."""
    tokenizer = Tokenizer(models.WordPiece(vocab=dict(vocab), unk_token="[UNK]",
                                           max_input_chars_per_word=MAX_INPUT_CHARS_PER_WORD))
    tokenizer.normalizer = normalizers.BertNormalizer(clean_text=True, handle_chinese_chars=True,
                                                      strip_accents=do_lower_case, lowercase=do_lower_case)
    tokenizer.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    return tokenizer


def _lowercases_and_strips_locally(char) -> bool:
    """Whether lower-casing and accent-stripping this character ignores its neighbours in Google's pipeline.

    Python's `str.lower` is contextual only for the capital sigma. Canonical reordering (part of NFD) only moves
    marks with a non-zero combining class, and stripping removes the non-spacing ones (Mn): if every such mark in
    the character's decomposition (before and after lower-casing) is Mn, nothing that survives is reordered.
    """
    if char == _CAPITAL_SIGMA:
        return False
    decomposed = unicodedata.normalize("NFD", char) + unicodedata.normalize("NFD", char.lower())
    return all(unicodedata.combining(part) == 0 or unicodedata.category(part) == "Mn" for part in decomposed)
