"""Batch scoring: review files in, one row per review out, as fast as the CPU allows, and safe to kill.

    reviews (streamed) -> window of W reviews, tokenized in one call and sorted by length -> batches padded to
        their longest -> AsyncInferQueue (several batches in flight while the next window is read) -> rows, flushed

Memory stays constant: only one window of encoded reviews (plus the batches in flight) is held at a time.
Sorting a window by length puts reviews of similar length together, so a batch is padded to its own longest
review, not to max_seq_length; the rows therefore come out in a different order from the input, each naming its
`source`. A row is flushed as soon as its batch finishes; `--resume` reads the rows already written (dropping a
torn last line) and scores only the sources not among them, so a killed run, started again, scores every review
exactly once. A write that fails (a full disk) stops the run with an error that says so; the rows before it stay
as they are, and `--resume` finishes the job once there is room.

`score --ray` (infer/ray_scoring.py) is the same run with the reading, tokenizing and classifying spread over Ray;
what the two share is here, once: the checks, `reviews_to_score` (resume and skips), `submit_sorted` (a window or
a block into length-sorted batches) and `ScoringRun` (metrics, progress bar, skips, rows written, the summary).
"""

import csv
import dataclasses
import functools
import io
import json
import signal
import sys
import threading
import time
from pathlib import Path

import numpy as np
from tqdm import tqdm

from ..core.errors import BertvinoError, Interrupted, file_error
from ..core.features import MAX_BATCH_TOKENS, stepped_length
from ..core.files import cannot_write
from .classifier import AsyncBatches, Classifier
from .explain import occlusions, top_words
from .metrics import Confusion, row_probabilities
from ..core.labels import gold_label
from ..core.reviews import count_reviews, read_reviews

BATCH_SIZE = 32  # reviews per inference batch, the default of score, score --ray and classify_dataset
TOP_WORDS = 5  # words in score --explain's top_words column
WINDOW_BATCHES = 16  # a window holds this many batches' worth of reviews, sorted by length together


@dataclasses.dataclass
class ScoreSummary:
    scored: int  # reviews scored by this run
    already_done: int  # rows found in the output by --resume
    skipped: list  # (source, reason) of every input that could not be scored
    seconds: float
    metrics: dict | None  # Confusion.report() over every row with a gold label, this run's and earlier ones

    @property
    def reviews_per_s(self) -> float:
        return self.scored / self.seconds if self.seconds else 0.0


def score(paths, classifier: Classifier, output=None, resume=False, overwrite=False, batch_size=BATCH_SIZE,
          split=None, progress=True, explain_method=None, max_batch_tokens=MAX_BATCH_TOKENS,
          on_start=None) -> ScoreSummary:
    """Score every review under `paths` into `output` (.csv or .jsonl; None: CSV on stdout); `split` keeps only
    reviews under a folder of that name (aclImdb's train/ or test/).

    A path that does not exist (or is no kind of review input) is an error before anything is written; a path that
    turns out unreadable while reading, or a single bad review or row, is skipped and reported in the summary. The
    progress bar has a total (and so an ETA) when the inputs are folders, archives or .txt files: counting those
    first is cheap.

    `explain_method` (one of `bertvino.infer.explain.METHODS`) adds a `top_words` column: the words that support
    each review's label most. Each review then runs as its own batches of variants (its words + 1 rows, cut into
    `batch_size` pieces), so this costs about (words seen + 1) times the inference of plain scoring.

    A batch holds at most `batch_size` reviews and `max_batch_tokens` tokens, padding included. `on_start()` is
    called once the output is open, before the first review is read."""
    check_batch_size(batch_size)
    check_inputs(paths, split)
    explained, collecting = explain_method is not None, threading.Lock()
    writer = None
    try:
        with RowWriter(output, classifier.bundle.labels, resume=resume, overwrite=overwrite,
                       explained=explained) as writer, ScoringRun(paths, split, writer, output, progress) as run:
            if on_start:
                on_start()

            def finished(batch, probabilities, _seconds):  # called from OpenVINO's threads
                if explained:
                    collected, start = batch
                    with collecting:
                        explanation = collected.add(start, probabilities)
                    if explanation is not None:  # the review's last variants: its row
                        run.write([(collected.source, explanation.prediction, collected.gold, explanation)])
                    return
                run.write([(source, classifier.prediction(row), gold)
                           for (source, gold), row in zip(batch, probabilities)])

            runner = AsyncBatches(classifier, finished, max_batch_tokens=max_batch_tokens)
            submit = (functools.partial(_submit_explained, method=explain_method) if explained else
                      functools.partial(_submit, max_batch_tokens=max_batch_tokens))
            window = []
            try:
                for review in reviews_to_score(paths, split, run.done_sources, run.skip):
                    window.append((review.source, gold_label(review.label, run.labels), review.text))
                    if len(window) == batch_size * WINDOW_BATCHES:
                        if run.write_failed:
                            break
                        submit(runner, classifier, window, batch_size)
                        window = []
                else:
                    submit(runner, classifier, window, batch_size)
            finally:
                runner.wait()  # every batch in flight writes its rows, even when reading failed half-way
    except (KeyboardInterrupt, Interrupted) as err:  # the batches in flight are written; say what is kept
        raise interrupted(err, output, writer.rows_kept() if writer else 0) from None
    return run.summary()


def interrupted(err, output, rows: int) -> Interrupted:
    """What a stopped run kept and how to go on, for the CLI's one line (Ctrl-C or SIGTERM)."""
    signum = getattr(err, "signum", signal.SIGINT)
    how = "stopped by SIGTERM" if signum == signal.SIGTERM else "interrupted"
    if output is None:
        return Interrupted(signum, f"{how}; the rows already printed are whole")
    if not rows:
        return Interrupted(signum, f"{how} before the first row: {output} was not written")
    return Interrupted(signum, f"{how}: {rows} row{'s' if rows != 1 else ''} kept in {output}; run the same "
                               "command with --resume to score the rest")


def _submit(runner: AsyncBatches, classifier: Classifier, window: list, batch_size: int, max_batch_tokens: int):
    """Tokenize a window of (source, gold, text) in one call and queue it in length-sorted batches."""
    submit_sorted(runner, classifier.encode_batch([text for _, _, text in window]),
                  [(source, gold) for source, gold, _ in window], batch_size, max_batch_tokens)


def _submit_explained(runner: AsyncBatches, classifier: Classifier, window: list, batch_size: int, method: str):
    """`_submit` for score --explain: each review's variants, in batches of at most `batch_size`. A review's variants
    are made only when its turn comes (submit blocks while OpenVINO is busy), so memory holds the variants of the
    reviews in flight, not of the whole window (hundreds of variants per IMDB review)."""
    for source, gold, text in window:
        occlusion = occlusions(classifier, [text], method)[0]
        collected = _Collected(source, gold, occlusion, method, classifier.bundle.labels)
        for start in range(0, len(occlusion.id_lists), batch_size):
            runner.submit(occlusion.id_lists[start:start + batch_size], (collected, start))


class _Collected:
    """One review's variant probabilities as their batches finish (in any order), and its explanation once all
    have. Called under score's lock."""

    def __init__(self, source, gold, occlusion, method, labels):
        self.source, self.gold, self.occlusion, self.method, self.labels = source, gold, occlusion, method, labels
        self.probabilities = np.zeros((len(occlusion.id_lists), len(labels)), dtype=np.float32)
        self.missing = len(occlusion.id_lists)

    def add(self, start: int, probabilities):
        self.probabilities[start:start + len(probabilities)] = probabilities
        self.missing -= len(probabilities)
        return self.occlusion.explanation(self.probabilities, self.labels, self.method) if not self.missing else None


# --- what score and score --ray share ----------------------------------------------------------------------------

def check_batch_size(batch_size: int):
    if batch_size < 1:
        raise BertvinoError("--batch-size must be at least 1")


def check_inputs(paths, split):
    """Raise for a path that does not exist or is no kind of review input, before anything is written or scored."""
    read_reviews(paths, split=split)  # checks every path when called; reads nothing until iterated


def reviews_to_score(paths, split, done_sources, on_skip):
    """Every review of every path whose source is not in `done_sources` (rows a resumed output already holds).

    `on_skip(source, reason)` hears of every review that cannot be read, and of every path that fails part-way (a
    corrupt archive, a CSV without a text column): neither is fatal, the other reviews are still scored."""
    for path in paths:
        try:
            for review in read_reviews(path, split=split, on_skip=on_skip):
                if review.source not in done_sources:
                    yield review
        except BertvinoError as err:
            on_skip(str(path), str(err).removeprefix(f"{path}: "))


def length_sorted_batches(id_lists: list, batch_size: int, max_tokens: int | None = None) -> list:
    """Indices of a window's encoded reviews, sorted by length (ties in reading order) and cut into batches of at
    most `batch_size` reviews and `max_tokens` tokens as padded (reviews x the longest's length rounded up as
    `AsyncBatches.submit` pads it; a review longer than the budget goes alone): the batches `score` runs, which
    benchmarks/score_speedup.py replays on the engine alone. A budget rather than a count bounds the activations a batch holds, which grow with its tokens."""
    order = sorted(range(len(id_lists)), key=lambda index: (len(id_lists[index]), index))
    batches, batch = [], []
    for index in order:  # ascending lengths: the review being added is the batch's longest
        if batch and (len(batch) == batch_size or
                      (max_tokens is not None and (len(batch) + 1) * stepped_length(len(id_lists[index])) > max_tokens)):
            batches.append(batch)
            batch = []
        batch.append(index)
    return batches + [batch] if batch else batches


def submit_sorted(runner: AsyncBatches, id_lists: list, tags: list, batch_size: int,
                  max_tokens: int | None = MAX_BATCH_TOKENS):
    """Queue encoded reviews on `runner` in `length_sorted_batches`, each batch with its reviews' tags (what its
    `done` callback gets back): a window of `score`, a block of `score --ray`."""
    for batch in length_sorted_batches(id_lists, batch_size, max_tokens):
        runner.submit([id_lists[index] for index in batch], [tags[index] for index in batch])


class ScoringRun:
    """One scoring run's bookkeeping, the same with or without Ray: the metrics (seeded from the rows a resumed
    output already holds), the progress bar, the skipped inputs, the rows written, the summary.

    `write` may be called from any thread. Once a write has failed nothing more is written, so that `--resume`
    can trust the file; leaving the `with` block then raises an error that says so.
    """

    def __init__(self, paths, split, writer, output, progress=True):
        self.writer, self.output, self.labels = writer, output, writer.labels
        self.confusion = Confusion(self.labels)
        for row in writer.existing_rows:
            self.confusion.add(row.get("gold") or None, row["label"], row_probabilities(row, self.labels))
        self.done_sources = frozenset(row["source"] for row in writer.existing_rows)
        self.skipped = []  # (source, reason)
        self.scored = 0  # rows this run wrote
        self._lock = threading.Lock()
        self.bar = tqdm(desc="score", unit=" reviews", total=count_reviews(paths, split) if progress else None,
                        initial=len(self.done_sources), disable=not progress, dynamic_ncols=True, file=sys.stderr)
        self.started = time.perf_counter()

    def __enter__(self):
        return self

    def __exit__(self, error_type, *_):
        self.bar.close()
        if error_type is None and self.write_failed:
            raise file_error(self.output, f"cannot write ({self.writer.error.strerror or self.writer.error}); the "
                                          "rows already in it are whole: make room and run the same command with "
                                          "--resume to finish")

    @property
    def write_failed(self) -> bool:
        return self.writer.error is not None

    def skip(self, source: str, reason: str):
        with self._lock:
            self.skipped.append((source, reason))
            self.bar.update(1)

    def write(self, rows: list):
        """rows: (source, Prediction, gold) triples, gold None where the input gives none; with score --explain,
        (source, Prediction, gold, Explanation)."""
        with self._lock:
            if not rows or self.write_failed:
                return
            self.writer.write(rows)
            for _, prediction, gold, *_explanation in rows:
                self.confusion.add(gold, prediction.label, prediction.probabilities)
            self.scored += len(rows)
            self.bar.update(len(rows))

    def summary(self) -> ScoreSummary:
        return ScoreSummary(scored=self.scored, already_done=len(self.done_sources), skipped=sorted(self.skipped),
                            seconds=time.perf_counter() - self.started,
                            metrics=self.confusion.report() if self.confusion.total or self.confusion.unknown_gold
                            else None)


def probabilities_in_order(classifier, texts, batch_size: int, progress: str | None = None) -> np.ndarray:
    """[len(texts), labels] probabilities, row i for texts[i], computed synchronously in `length_sorted_batches`
    (for callers that hold the texts in memory: the training teacher, the short-text benchmark). `progress` names
    a tqdm bar over the batches."""
    id_lists = classifier.encode_batch(texts)
    batches = length_sorted_batches(id_lists, batch_size)
    if progress:
        batches = tqdm(batches, desc=progress, unit="batch", dynamic_ncols=True)
    result = np.zeros((len(texts), len(classifier.bundle.labels)), dtype=np.float32)
    for batch in batches:
        batch_ids = [id_lists[index] for index in batch]
        result[batch] = classifier.probabilities(classifier.pooled(batch_ids), classifier.lengths(batch_ids))
    return result



def logits_in_order(classifier, texts, batch_size: int = 64, progress: str | None = None):
    """(logits [len(texts), labels] uncalibrated, lengths [len(texts)]) in the texts' order: what a calibration is
    fitted on (`bertvino calibrate`, benchmarks/calibration.py)."""
    id_lists = classifier.encode_batch(texts)
    batches = length_sorted_batches(id_lists, batch_size)
    if progress:
        batches = tqdm(batches, desc=progress, unit="batch", dynamic_ncols=True, file=sys.stderr)
    logits = np.zeros((len(texts), len(classifier.bundle.labels)), dtype=np.float32)
    for batch in batches:
        logits[batch] = classifier.logits(classifier.pooled([id_lists[index] for index in batch]))
    return logits, classifier.lengths(id_lists)

class RowWriter:
    """Result rows, CSV or JSONL by the file's extension (CSV on stdout without a file), flushed per batch.

    Columns: source, label, p_<label> for each label, gold (empty where the input gives none), and with
    `explained` top_words: in CSV "word(+0.41) word(+0.12) ...", in JSONL a list of {"word", "start", "end",
    "score"}, the words that support the label most, best first.
    """

    def __init__(self, path, labels, resume=False, overwrite=False, explained=False):
        self.labels = labels
        self.columns = ["source", "label", *[f"p_{label}" for label in labels], "gold"]
        if explained:
            self.columns.append("top_words")
        self.existing_rows = []
        self.header_pending = False
        self.error = None  # the OSError that stopped writing to a file (a full disk), if one did
        if path is None:
            if resume:
                raise BertvinoError("--resume needs -o FILE: it continues the rows already written there")
            self.format, self.file = "csv", sys.stdout
        else:
            path = Path(path)
            self.format = {".csv": "csv", ".jsonl": "jsonl"}.get(path.suffix.lower())
            if self.format is None:
                raise file_error(path, "output must be a .csv or .jsonl file")
            if path.exists() and path.stat().st_size and not (resume or overwrite):
                raise file_error(path, "exists: pass --resume to continue it, or --overwrite to start again")
            if resume and path.exists():
                self.existing_rows = self._read_existing(path)
            try:  # unbuffered bytes: a failed write can leave at most one torn line, which --resume drops
                self.file = open(path, "ab" if resume else "wb", buffering=0)
            except OSError as err:
                raise cannot_write(path, err) from None
            # The header goes out with the first row (a resumed file keeps the header it has), and close() removes
            # a file that got no row: a run that fails before its first row leaves nothing that blocks the re-run.
            self.header_pending = self.format == "csv" and self.file.tell() == 0
        self.path = path
        self.rows_in_file = len(self.existing_rows)
        if self.file is sys.stdout and self.format == "csv":
            self._write_text(_csv_line(self.columns))

    def write(self, rows):
        """rows: (source, Prediction, gold) triples, or (source, Prediction, gold, Explanation) for top_words."""
        lines = []
        for source, prediction, gold, *explanation in rows:
            values = [source, prediction.label, *[prediction.probabilities[label] for label in self.labels],
                      gold or ""]
            if self.format == "csv":
                top = [top_words(explanation[0], TOP_WORDS)] if explanation else []
                lines.append(_csv_line([*values[:2], *(f"{p:.6f}" for p in values[2:-1]), values[-1], *top]))
            else:
                if explanation:
                    values.append([word.as_dict() for word in explanation[0].top(TOP_WORDS)])
                lines.append(json.dumps(dict(zip(self.columns, values)), ensure_ascii=False) + "\n")
        if self.header_pending:
            lines.insert(0, _csv_line(self.columns))
        if self.file is sys.stdout:
            self._write_text("".join(lines))
        else:
            try:
                self._write_text("".join(lines))
            except OSError as err:
                self.error = err
                return
        self.header_pending = False
        self.rows_in_file += len(rows)

    def _write_text(self, text):
        if self.file is sys.stdout:
            self.file.write(text)
            self.file.flush()
            return
        data = memoryview(text.encode("utf-8"))
        while data:  # an unbuffered write may write less than asked: near a full disk, say
            data = data[self.file.write(data):]

    def rows_kept(self) -> int:
        """The whole rows the file holds now, read back as `--resume` will find them: what a stopped run reports.
        Not `rows_in_file`: a stop (raised by the CLI's signal handler) can land between a write and its count."""
        if self.file is sys.stdout or not self.path.exists():  # stdout, or a file closed with no row and removed
            return self.rows_in_file
        if not self.file.closed:
            self.file.flush()
        return len(self._read_existing(self.path))

    def close(self):
        """Close the file, and remove it if it holds no row (the run failed or had nothing to score)."""
        if self.file is not sys.stdout:
            self.file.close()
            if not self.rows_in_file:
                self.path.unlink(missing_ok=True)

    def __enter__(self):
        return self

    def __exit__(self, *_):
        self.close()

    def _read_existing(self, path: Path) -> list:
        """The complete rows of an earlier run; a torn last line (killed mid-write) is cut off the file."""
        with open(path, "rb+") as file:
            data = file.read()
            complete = data[:data.rfind(b"\n") + 1]
            if len(complete) != len(data):
                file.truncate(len(complete))
        try:
            text = complete.decode("utf-8")
        except UnicodeDecodeError:
            raise file_error(path, "is not a bertvino results file (not UTF-8); cannot resume it") from None
        if not text:
            return []
        if self.format == "jsonl":
            rows = [json.loads(line) for line in text.splitlines() if line.strip()]
            if rows and list(rows[0]) != self.columns:
                raise file_error(path, f"has columns {list(rows[0])}, this model writes {self.columns}; "
                                       "cannot resume it with another model")
            return rows
        reader = csv.DictReader(io.StringIO(text))
        if reader.fieldnames != self.columns:
            raise file_error(path, f"has columns {reader.fieldnames}, this model writes {self.columns}; "
                                   "cannot resume it with another model")
        return list(reader)


def _csv_line(values) -> str:
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\n").writerow(values)
    return buffer.getvalue()

