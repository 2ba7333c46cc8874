"""WordPiece tokenization, token-for-token identical to Google's BERT.

Ported from google-research/bert `tokenization.py` (Copyright 2018 The Google AI Language Team Authors,
Apache License 2.0), as it stands on that repository's master branch. A fine-tuned checkpoint only gives
the right answers when its input is split exactly the way its training data was, so every step here
does what Google's does. Gone are the Python 2 / `six` / `tf.gfile` parts, `printable_text` and
`validate_case_matches_checkpoint`; new are that a bad vocab file raises `BertvinoError` up front
instead of a `KeyError` later, and `FullTokenizer.piece_ids` (many texts to ids, as `bertvino.core.features` asks
every tokenizer). `bertvino.core.fast_tokenization` is the compiled tokenizer that must give the same ids; this
module stays the reference it is checked against and its fallback.

Pipeline, as in Google's code: `BasicTokenizer` cleans the text, puts spaces around CJK characters,
lower-cases and strips accents (uncased models only), splits on whitespace and punctuation; then
`WordpieceTokenizer` splits each word greedily into the longest pieces found in the vocab.
"""

import collections
import unicodedata

from .errors import file_error

# Tokens every Google BERT vocab has and that bertvino relies on: padding, unknown word pieces, and
# the two markers `bertvino.core.features` puts around each text.
REQUIRED_TOKENS = ("[PAD]", "[UNK]", "[CLS]", "[SEP]")

# Longer words become a single [UNK] without being looked at. Google's master has 200 (the Nov 2018
# version of the file, and Hugging Face's port of it, have 100).
MAX_INPUT_CHARS_PER_WORD = 200


def convert_to_unicode(text):
    """Returns `text` as `str`, decoding `bytes` as UTF-8 and dropping invalid bytes, as Google does."""
    if isinstance(text, str):
        return text
    if isinstance(text, bytes):
        return text.decode("utf-8", "ignore")
    raise ValueError(f"Unsupported string type: {type(text)}")


def load_vocab(vocab_file):
    """Reads a vocab file (one token per line) into an `OrderedDict` of token -> line index.

    Same semantics as Google's: each line is stripped of surrounding whitespace, a blank line is the
    token "" and still takes an index, and a token listed twice keeps its first position in the dict
    but maps to the index of its last line.
    """
    try:
        with open(vocab_file, "rb") as reader:
            raw = reader.read()
    except OSError as err:
        raise file_error(vocab_file, f"cannot read vocab file ({err.strerror or err})") from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as err:
        raise file_error(vocab_file, f"vocab file is not UTF-8 text (bad byte at offset {err.start})") from None

    # Google reads with tf.gfile's readline(): only "\n" ends a line (a final line needs none), and
    # every "\r" is dropped, wherever it is in the line.
    lines = text.replace("\r", "").split("\n")
    if lines[-1] == "":
        lines.pop()
    if not lines:
        raise file_error(vocab_file, "vocab file is empty")

    vocab = collections.OrderedDict()
    for index, line in enumerate(lines):
        vocab[line.strip()] = index

    missing = [token for token in REQUIRED_TOKENS if token not in vocab]
    if missing:
        if text.startswith("\ufeff"):
            hint = " (it starts with a byte-order mark, which Google's code keeps as part of the first token)"
        else:
            hint = "; is this a BERT vocab.txt?"
        raise file_error(vocab_file, f"vocab file lacks {', '.join(missing)}{hint}")
    return vocab


def convert_by_vocab(vocab, items):
    """Maps each token to its id (or id to its token); an unknown item is a `KeyError`, as in Google's."""
    return [vocab[item] for item in items]


def convert_tokens_to_ids(vocab, tokens):
    return convert_by_vocab(vocab, tokens)


def convert_ids_to_tokens(inv_vocab, ids):
    return convert_by_vocab(inv_vocab, ids)


def whitespace_tokenize(text):
    """Splits on runs of whitespace; "" and all-whitespace text give []."""
    return text.split()


class FullTokenizer:
    """End-to-end tokenization: text -> word pieces that are all in the vocab (or "[UNK]")."""

    def __init__(self, vocab_file, do_lower_case=True):
        self.vocab = load_vocab(vocab_file)
        self.inv_vocab = {index: token for token, index in self.vocab.items()}
        self.basic_tokenizer = BasicTokenizer(do_lower_case=do_lower_case)
        self.wordpiece_tokenizer = WordpieceTokenizer(vocab=self.vocab)

    def tokenize(self, text):
        return [
            piece
            for word in self.basic_tokenizer.tokenize(text)
            for piece in self.wordpiece_tokenizer.tokenize(word)
        ]

    def convert_tokens_to_ids(self, tokens):
        return convert_by_vocab(self.vocab, tokens)

    def convert_ids_to_tokens(self, ids):
        return convert_by_vocab(self.inv_vocab, ids)

    def piece_ids(self, texts):
        """The word-piece ids of each text: the batch interface `bertvino.core.features` uses for every tokenizer."""
        return [self.convert_tokens_to_ids(self.tokenize(text)) for text in texts]


class BasicTokenizer:
    """Cleans text and splits it into words and punctuation marks; lower-cases and strips accents if asked."""

    def __init__(self, do_lower_case=True):
        self.do_lower_case = do_lower_case

    def tokenize(self, text):
        text = _clean_text(convert_to_unicode(text))
        # Google added this for the multilingual and Chinese models and applies it to every model; it
        # makes no difference to English ones, whose training data had (almost) no CJK text.
        text = _tokenize_chinese_chars(text)

        split_tokens = []
        for token in whitespace_tokenize(text):
            if self.do_lower_case:
                token = _run_strip_accents(token.lower())
            split_tokens.extend(_run_split_on_punc(token))
        return whitespace_tokenize(" ".join(split_tokens))


class WordpieceTokenizer:
    """Splits words into word pieces by greedy longest-match-first against the vocab.

    For example "unaffable" -> ["un", "##aff", "##able"]: pieces after the first carry a "##" prefix.
    A word with any part that matches nothing becomes a single `unk_token`, as does a word longer than
    `max_input_chars_per_word` characters.
    """

    def __init__(self, vocab, unk_token="[UNK]", max_input_chars_per_word=MAX_INPUT_CHARS_PER_WORD):
        self.vocab = vocab
        self.unk_token = unk_token
        self.max_input_chars_per_word = max_input_chars_per_word

    def tokenize(self, text):
        """Word pieces of `text`, which should already have been through `BasicTokenizer`."""
        output_tokens = []
        for word in whitespace_tokenize(convert_to_unicode(text)):
            if len(word) > self.max_input_chars_per_word:
                output_tokens.append(self.unk_token)
                continue
            pieces = self._split_word(word)
            if pieces is None:
                output_tokens.append(self.unk_token)
            else:
                output_tokens.extend(pieces)
        return output_tokens

    def _split_word(self, word):
        """The word's pieces, or None if some part of it matches no vocab entry."""
        pieces = []
        start = 0
        while start < len(word):
            end = len(word)
            piece = None
            while start < end:
                candidate = word[start:end] if start == 0 else "##" + word[start:end]
                if candidate in self.vocab:
                    piece = candidate
                    break
                end -= 1
            if piece is None:
                return None
            pieces.append(piece)
            start = end
        return pieces


def _clean_text(text):
    """Drops NUL, U+FFFD and control/format characters; turns every whitespace character into " "."""
    output = []
    for char in text:
        code_point = ord(char)
        if code_point == 0 or code_point == 0xFFFD or _is_control(char):
            continue
        output.append(" " if _is_whitespace(char) else char)
    return "".join(output)


def _tokenize_chinese_chars(text):
    """Puts spaces around every CJK ideograph, so each one becomes a word of its own."""
    return "".join(f" {char} " if _is_chinese_char(ord(char)) else char for char in text)


def _run_strip_accents(text):
    """Decomposes (NFD) and drops the combining marks (category Mn): "é" -> "e"."""
    return "".join(char for char in unicodedata.normalize("NFD", text) if unicodedata.category(char) != "Mn")


def _run_split_on_punc(text):
    """Splits a word so that each punctuation character stands alone: "a,b!" -> ["a", ",", "b", "!"]."""
    output = []
    start_new_word = True
    for char in text:
        if _is_punctuation(char):
            output.append([char])
            start_new_word = True
        else:
            if start_new_word:
                output.append([])
            start_new_word = False
            output[-1].append(char)
    return ["".join(chars) for chars in output]


def _is_chinese_char(code_point):
    """Whether the code point is in a CJK Unified Ideographs (or compatibility) block.

    Despite the name these blocks are not all of Chinese, Japanese and Korean: Hangul, Hiragana and
    Katakana are written as space-separated words, so Google leaves them to the normal path.
    """
    return (
        0x4E00 <= code_point <= 0x9FFF
        or 0x3400 <= code_point <= 0x4DBF
        or 0x20000 <= code_point <= 0x2A6DF
        or 0x2A700 <= code_point <= 0x2B73F
        or 0x2B740 <= code_point <= 0x2B81F
        or 0x2B820 <= code_point <= 0x2CEAF
        or 0xF900 <= code_point <= 0xFAFF
        or 0x2F800 <= code_point <= 0x2FA1F
    )


def _is_whitespace(char):
    """Space, \\t, \\n, \\r and Unicode space separators (Zs, e.g. U+00A0)."""
    # \t, \n and \r are technically control characters, but are treated as whitespace.
    if char in (" ", "\t", "\n", "\r"):
        return True
    return unicodedata.category(char) == "Zs"


def _is_control(char):
    """Control (Cc) and format (Cf) characters other than \\t, \\n, \\r; `_clean_text` removes them.

    Cf includes zero-width characters such as U+200B, U+200D and U+FEFF, so those vanish without
    splitting the word they are in.
    """
    if char in ("\t", "\n", "\r"):
        return False
    return unicodedata.category(char) in ("Cc", "Cf")


def _is_punctuation(char):
    """Unicode punctuation (P*), plus every ASCII character that is not a letter, digit or space.

    So "$", "^", "`", "+", "<" and friends split words too, although Unicode calls them symbols.
    """
    code_point = ord(char)
    if 33 <= code_point <= 47 or 58 <= code_point <= 64 or 91 <= code_point <= 96 or 123 <= code_point <= 126:
        return True
    return unicodedata.category(char).startswith("P")

