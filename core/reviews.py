"""Read movie reviews, labelled or not, from the places people keep them.

`read_reviews(paths)` turns any mix of these into one stream of `Review` records:

- a folder laid out like aclImdb (`train/` and `test/`, each with `pos/`, `neg/`, maybe `unsup/`), or any folder
  of `.txt` files; the label comes from the folder a file sits in (see `_folder_label`);
- the `aclImdb_v1.tar.gz` download itself (or any `.tar`/`.tar.gz`/`.tgz`), read straight from the archive;
- a `.csv` file with a header, or a `.jsonl`/`.ndjson` file, with a text field and an optional label field;
- a single `.txt` file, which is one review.

A label is a string, as the data writes it (any set of labels: two, three or more); `bertvino.core.labels` maps the
spellings onto a model's labels. Everything streams: files are read one review at a time, so a million-row CSV or the
whole aclImdb archive never sits in memory. Problems with the input as a whole (a missing path, a CSV without a
text column) raise `BertvinoError`; a single unusable review (not UTF-8, empty, bad JSON) is reported to `on_skip`
and reading goes on, or raises if no `on_skip` was given.

Standard library only: this module is imported by the TF-free inference side of bertvino.
"""

from __future__ import annotations

import codecs
import csv
import json
import os
import re
import tarfile
import zlib
from dataclasses import dataclass
from pathlib import PurePath, PurePosixPath
from typing import Callable, Iterable, Iterator, Union

from .errors import BertvinoError, file_error

@dataclass(frozen=True)
class Review:
    """One movie review, with where it came from so messages and predictions can point back at it."""

    source: str  # the file's path, or "path:N" for data row / line N (1-based) of a CSV / JSONL file
    text: str  # the review, with HTML line breaks (<br />) replaced by a space
    label: str | None  # as the data gives it ("positive", "sports", "1", ...), or None when it doesn't say


PathLike = Union[str, os.PathLike]
OnSkip = Callable[[str, str], None]  # on_skip(source, reason)

# Field names we accept in CSV headers and JSON objects, in order of preference (matched case-insensitively).
TEXT_FIELDS = ("text", "review", "sentence")
LABEL_FIELDS = ("label", "sentiment", "polarity")

# aclImdb's folder names, which decide a file's label wherever they stand in its path. `unsup` is aclImdb's unlabelled
# set: it says "no label" explicitly, so it stops the search just like `pos`/`neg` do.
_ACLIMDB_FOLDERS = {"pos": "positive", "neg": "negative", "unsup": None}

# aclImdb marks paragraph breaks with "<br /><br />"; BERT should see plain spaces.
_HTML_BREAK = re.compile(r"<br\s*/?>", re.IGNORECASE)

_ARCHIVE_SUFFIXES = (".tar.gz", ".tgz", ".tar")
_CSV_SUFFIXES = (".csv",)
_JSONL_SUFFIXES = (".jsonl", ".ndjson")
_TEXT_SUFFIXES = (".txt",)

# What a broken or truncated archive can raise while we stream through it.
_ARCHIVE_ERRORS = (tarfile.TarError, EOFError, zlib.error, OSError)


# --- the public entry point --------------------------------------------------------------------------------------


def read_reviews(
    paths: PathLike | Iterable[PathLike],
    *,
    split: str | None = None,
    on_skip: OnSkip | None = None,
) -> Iterator[Review]:
    """Stream the reviews in `paths` (one path or a list), in order, one `Review` at a time.

    `split` (e.g. "train") keeps only files under a folder of that name inside a directory or archive; it can't
    apply to a CSV/JSONL file, so asking for it there is an error. `on_skip(source, reason)` hears about single
    reviews that can't be used; without it they raise `BertvinoError`.

    The paths are checked here, before anything is read, so a typo fails at once rather than after an hour of
    reading; the reviews themselves are only read as the caller iterates.
    """
    path_list = [os.fspath(p) for p in ([paths] if isinstance(paths, (str, os.PathLike)) else paths)]
    if not path_list:
        raise BertvinoError("no input paths given")
    plan = [(path, _kind_of(path, split)) for path in path_list]
    return _read_planned(plan, split, on_skip)


def count_reviews(paths: Iterable[PathLike], split: str | None = None) -> int | None:
    """How many review files `read_reviews(paths, split=split)` will look at, for a progress bar's total.

    Cheap where it can be known: a folder is one directory walk, an archive one pass of decompression with nothing
    read into memory. None when any path is a CSV/JSONL file (its rows are only known by parsing it all) or cannot
    be counted; the reader reports what is wrong with it.
    """
    total = 0
    try:
        for path in map(os.fspath, paths):
            kind = _kind_of(path, split)
            if kind in ("csv", "jsonl"):
                return None
            if kind == "text":
                total += 1
            elif kind == "directory":
                total += sum(1 for folder, _, files in os.walk(path)
                             if split is None or split in PurePath(os.path.relpath(folder, path)).parts
                             for name in files if _is_review_file(name))
            else:
                with tarfile.open(path, "r|*") as tar:
                    names = (PurePosixPath(member.name) for member in tar if member.isfile())
                    total += sum(1 for name in names
                                 if _is_review_file(name.name) and (split is None or split in name.parts[:-1]))
    except (BertvinoError, *_ARCHIVE_ERRORS):
        return None
    return total


def _read_planned(plan: list[tuple[str, str]], split: str | None, on_skip: OnSkip | None) -> Iterator[Review]:
    """Read each checked path with the reader for its kind (a generator, so nothing happens until iterated)."""
    for path, kind in plan:
        if kind == "directory":
            yield from _read_directory(path, split, on_skip)
        elif kind == "archive":
            yield from _read_archive(path, split, on_skip)
        elif kind == "csv":
            yield from _read_csv(path, on_skip)
        elif kind == "jsonl":
            yield from _read_jsonl(path, on_skip)
        else:
            yield from _read_text_file(path, on_skip)


def _kind_of(path: str, split: str | None) -> str:
    """Which reader handles `path`; raises for paths that don't exist or that we can't read."""
    if not os.path.exists(path):
        raise file_error(path, "no such file or directory")
    if os.path.isdir(path):
        return "directory"
    if not os.path.isfile(path):
        raise file_error(path, "not a regular file or directory")
    name = os.path.basename(path).lower()
    if name.endswith(_ARCHIVE_SUFFIXES):
        return "archive"
    if name.endswith(_CSV_SUFFIXES + _JSONL_SUFFIXES):
        if split is not None:
            raise file_error(path, f"split={split!r} can't be applied: a CSV/JSONL file has no train/test folders")
        return "csv" if name.endswith(_CSV_SUFFIXES) else "jsonl"
    if name.endswith(_TEXT_SUFFIXES):
        return "text"
    raise file_error(
        path, "unsupported input: expected a directory, a .txt, .csv, .jsonl or .ndjson file, or a .tar/.tar.gz/.tgz"
    )


# --- one reader per kind of input --------------------------------------------------------------------------------


def _read_directory(root: str, split: str | None, on_skip: OnSkip | None) -> Iterator[Review]:
    """Every review `.txt` under `root`, folder by folder in name order (files first), so runs are repeatable."""
    def unreadable_folder(err: OSError) -> None:
        _skip(err.filename, _os_reason(err), on_skip)

    found = 0
    for folder, subfolders, files in os.walk(root, onerror=unreadable_folder):
        subfolders.sort()  # os.walk descends in the order this list ends up in
        inside = PurePath(os.path.relpath(folder, root)).parts  # the folders between root and here
        if split is not None and split not in inside:
            continue
        # aclImdb's labels come from where the files really are, so passing `aclImdb/train/pos` itself still means
        # positive; other folders name a label only below the folder given.
        label = _folder_label(PurePath(os.path.abspath(folder)).parts, inside, split)
        for name in sorted(files):
            if not _is_review_file(name):
                continue
            found += 1
            source = os.path.join(folder, name)
            data = _read_bytes(source, on_skip)
            review = None if data is None else _review_from_bytes(source, data, label, on_skip)
            if review is not None:
                yield review
    if not found:
        raise _nothing_found(root, split)


def _read_archive(archive: str, split: str | None, on_skip: OnSkip | None) -> Iterator[Review]:
    """The review `.txt` members of a tar archive, in archive order, read as a stream.

    Stream mode ("r|*") decompresses once, front to back, with no seeking and nothing extracted to disk: the same
    cost as `tar -xzf` without the 100,000 small files it would leave behind.
    """
    found = 0
    try:
        tar = tarfile.open(archive, "r|*")
    except _ARCHIVE_ERRORS as err:
        raise file_error(archive, f"not a readable tar archive ({err})") from err
    with tar:
        for member in _archive_members(tar, archive):
            name = PurePosixPath(member.name)  # also drops a leading "./"
            inside = name.parts[:-1]
            if not member.isfile() or not _is_review_file(name.name):
                continue
            if split is not None and split not in inside:
                continue
            found += 1
            source = f"{archive}/{name}"
            data = _archive_read(tar, member, archive)
            review = _review_from_bytes(source, data, _folder_label(inside, inside[1:], split), on_skip)
            if review is not None:
                yield review
    if not found:
        raise _nothing_found(archive, split)


def _read_csv(path: str, on_skip: OnSkip | None) -> Iterator[Review]:
    """One review per data row; the `csv` module handles quoted fields that span lines.

    Bytes that aren't UTF-8 are kept as escapes while reading, so one bad row can be skipped instead of the
    decoder failing the whole file part-way through.
    """
    try:
        file = open(path, newline="", encoding="utf-8-sig", errors="surrogateescape")
    except OSError as err:
        raise file_error(path, _os_reason(err)) from err
    with file:
        reader = csv.reader(file)
        rows = _csv_rows(reader, path)
        header = next(rows, None)
        if header is None:
            raise file_error(path, "empty CSV file: expected a header row")
        text_col = _pick_field(header, TEXT_FIELDS)
        if text_col is None:
            raise file_error(
                path, f"no text column (one of {', '.join(TEXT_FIELDS)}) in the CSV header {header!r}"
            )
        label_col = _pick_field(header, LABEL_FIELDS)
        next_line = reader.line_num + 1
        for number, row in enumerate(rows, start=1):
            line, next_line = next_line, reader.line_num + 1  # where the row starts: quoted fields span lines
            if not row:  # a blank line: counted, so N still matches the file, but not a review
                continue
            source = f"{path}:{number}"
            text = row[text_col] if text_col < len(row) else ""
            label = row[label_col] if label_col is not None and label_col < len(row) else None
            row_skip = on_skip and (lambda source, reason, line=line: on_skip(source, f"{reason} (line {line})"))
            if _has_undecodable_bytes(text):
                _skip(source, "not UTF-8", row_skip)
                continue
            review = _review(source, text, label, row_skip)
            if review is not None:
                yield review


def _read_jsonl(path: str, on_skip: OnSkip | None) -> Iterator[Review]:
    """One review per line, each a JSON object; blank lines are allowed and ignored.

    Lines are read as bytes and decoded one by one, so a bad line is skipped without losing the rest.
    """
    try:
        file = open(path, "rb")
    except OSError as err:
        raise file_error(path, _os_reason(err)) from err
    with file:
        for number, raw in enumerate(file, start=1):
            source = f"{path}:{number}"
            if number == 1:
                raw = raw.removeprefix(codecs.BOM_UTF8)
            if not raw.strip():
                continue
            try:
                record = json.loads(raw.decode("utf-8"))
            except UnicodeDecodeError:
                _skip(source, "not UTF-8", on_skip)
                continue
            except json.JSONDecodeError as err:
                _skip(source, f"invalid JSON: {err}", on_skip)
                continue
            if not isinstance(record, dict):
                _skip(source, "not a JSON object", on_skip)
                continue
            keys = list(record)
            text_key = _pick_field(keys, TEXT_FIELDS)
            label_key = _pick_field(keys, LABEL_FIELDS)
            text = None if text_key is None else record[keys[text_key]]
            if not isinstance(text, str):
                _skip(source, "no text field" if text is None else "text is not a string", on_skip)
                continue
            review = _review(source, text, None if label_key is None else record[keys[label_key]], on_skip)
            if review is not None:
                yield review


def _read_text_file(path: str, on_skip: OnSkip | None) -> Iterator[Review]:
    """A single `.txt` file is one review, labelled by the folder it sits in."""
    label = _folder_label(PurePath(os.path.abspath(path)).parent.parts, (), None)
    data = _read_bytes(path, on_skip)
    review = None if data is None else _review_from_bytes(path, data, label, on_skip)
    if review is not None:
        yield review


# --- helpers the readers share -----------------------------------------------------------------------------------


def _is_review_file(name: str) -> bool:
    """Whether a file in an aclImdb-style tree is a review: a `.txt` that isn't one of aclImdb's extra files.

    aclImdb also ships `urls_pos.txt` etc. (IMDb links, one per review) and `imdbEr.txt` (a score per vocabulary
    word); they are `.txt` but not reviews. README, imdb.vocab and *.feat are left out by the `.txt` test.
    """
    return name.lower().endswith(_TEXT_SUFFIXES) and not name.startswith("urls_") and name != "imdbEr.txt"


def _folder_label(folders: Iterable[str], below_root: tuple, split: str | None) -> str | None:
    """The label a file's folders give it.

    aclImdb first: the nearest enclosing `pos`/`neg` folder among `folders` (all of the file's folders) means
    positive/negative, `unsup` no label. Otherwise, as Keras' `text_dataset_from_directory` reads a folder per class,
    the folder the file sits in names its label, provided it is below the folder the user gave (`below_root`: the
    folders between it and the file; for an archive, below its top-level folder) and is not the `split` folder. So
    `news/sports/1.txt` is "sports" and `news/1.txt` has no label.
    """
    for folder in reversed(tuple(folders)):
        if folder in _ACLIMDB_FOLDERS:
            return _ACLIMDB_FOLDERS[folder]
    if below_root and below_root[-1] != split:
        return below_root[-1]
    return None


def _label_text(value: object) -> str | None:
    """A label field as a string (JSON's true/1 as "true"/"1"), None when empty. Which labels mean what is for
    the model to say (`bertvino.core.labels.match_label`), not the reader."""
    if value is None:
        return None
    text = (str(value).lower() if isinstance(value, bool) else str(value)).strip()
    return text or None


def _review_from_bytes(source: str, data: bytes, label: str | None, on_skip: OnSkip | None) -> Review | None:
    """A `Review` from a file's raw bytes, or None (after telling `on_skip`) if they aren't UTF-8 text."""
    try:
        text = data.decode("utf-8-sig")  # "-sig": a leading byte-order mark (Windows editors) is not review text
    except UnicodeDecodeError:
        _skip(source, "not UTF-8", on_skip)
        return None
    return _review(source, text, label, on_skip)


def _review(source: str, text: str, label: object, on_skip: OnSkip | None) -> Review | None:
    """A `Review` with line breaks cleaned, or None (after `on_skip`) if the text is empty."""
    text = _HTML_BREAK.sub(" ", text)
    if not text.strip():
        _skip(source, "empty review", on_skip)
        return None
    return Review(source=source, text=text, label=_label_text(label))


def _skip(source: str, reason: str, on_skip: OnSkip | None) -> None:
    """Report one unusable review to `on_skip`, or raise if the caller didn't ask to skip."""
    if on_skip is None:
        raise file_error(source, reason)
    on_skip(source, reason)


def _read_bytes(path: str, on_skip: OnSkip | None) -> bytes | None:
    """The whole file, or None (after `on_skip`) if it can't be read; one review file is small."""
    try:
        with open(path, "rb") as file:
            return file.read()
    except OSError as err:
        _skip(path, _os_reason(err), on_skip)
        return None


def _os_reason(err: OSError) -> str:
    """A short one-line reason for an OS error, without repeating the file name."""
    return f"unreadable ({err.strerror or err})"


def _pick_field(names: list[str], wanted: tuple[str, ...]) -> int | None:
    """Index in `names` of the first of `wanted` present (case-insensitive, spaces ignored), or None."""
    normalised = [str(name).strip().lower() for name in names]
    for field in wanted:
        if field in normalised:
            return normalised.index(field)
    return None


def _csv_rows(reader: Iterator[list[str]], path: str) -> Iterator[list[str]]:
    """The rows of a CSV reader, with a malformed file reported as a one-line error naming it and the line."""
    while True:
        try:
            row = next(reader)
        except StopIteration:
            return
        except csv.Error as err:
            raise file_error(path, f"line {reader.line_num}: malformed CSV ({err})") from err
        yield row


def _has_undecodable_bytes(text: str) -> bool:
    """Whether text read with errors="surrogateescape" contained bytes that aren't UTF-8."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


def _archive_members(tar: tarfile.TarFile, archive: str) -> Iterator[tarfile.TarInfo]:
    """The members of a streamed archive, with corruption or truncation reported as an error naming the archive."""
    members = iter(tar)
    while True:
        try:
            member = next(members)
        except StopIteration:
            return
        except _ARCHIVE_ERRORS as err:
            raise file_error(archive, f"corrupt or truncated archive ({err})") from err
        yield member


def _archive_read(tar: tarfile.TarFile, member: tarfile.TarInfo, archive: str) -> bytes:
    """The bytes of the current member; in stream mode this must happen before moving to the next one."""
    try:
        return tar.extractfile(member).read()
    except _ARCHIVE_ERRORS as err:
        raise file_error(archive, f"corrupt or truncated archive at {member.name} ({err})") from err


def _nothing_found(path: str, split: str | None) -> BertvinoError:
    """The error for a directory or archive that held no reviews (at all, or in the requested split)."""
    if split is not None:
        return BertvinoError(f"no reviews under a '{split}/' folder in {path}")
    return file_error(path, "no review .txt files found")
