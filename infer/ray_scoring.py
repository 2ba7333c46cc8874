"""Batch scoring on Ray Data (`bertvino score --ray`): the rows of `score`, from one machine's cores or a cluster's.

For people who already hold a Ray Dataset, `classify_dataset` is the Python entry point:

    import ray, bertvino.infer.ray_scoring
    labelled = bertvino.infer.ray_scoring.classify_dataset(ray.data.read_parquet("reviews/"), model="my-model")

    input paths, one row each -> read (a task per path on the driver's node, streamed; resumed sources dropped)
        -> blocks of `block_rows` reviews (streaming repartition) -> tokenize (tasks)
        -> classify (a pool of actors, each compiling the bundle once, with `threads` OpenVINO threads)
        -> rows back to the driver -> written (CSV/JSONL as `score`, or a directory of Parquet parts) and counted

The rows come back to the driver and are written there. A result row is ~100 bytes against a review's ~1.3 KB,
so one writer is never the bottleneck, and it keeps `score`'s guarantees in one place: the output is the same
file `score` writes (so either can `--resume` the other's), every source is written once even when Ray retries a
task whose rows already arrived, and the metrics count every row.

Inside an actor a block is classified as `score` classifies a window: sorted by length, cut into batches padded
to their longest, several batches in flight on OpenVINO's `AsyncInferQueue`.

The review files are read on the driver's node, where the user named them (a path there may not exist on other
nodes; reading is cheap next to BERT). Reading and tokenizing tasks reserve no CPU in Ray's accounting (they are
light next to BERT and must not wait behind actors that hold every CPU); a fixed number of them run at once.
"""

import atexit
import contextlib
import dataclasses
import logging
import os
import re
import shutil
import signal
import sys
import tempfile
import threading
import time
import uuid
import warnings
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import ray
from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

from ..core.bundle import load_bundle
from ..core.errors import BertvinoError, Interrupted, file_error
from ..core.files import cannot_write, check_writable
from ..core.features import encode_batch, reading
from .classifier import AsyncBatches, Classifier, Prediction
from ..core.labels import gold_label
from ..core.reviews import count_reviews
from .scoring import (BATCH_SIZE, WINDOW_BATCHES, RowWriter, ScoreSummary, ScoringRun, check_batch_size, check_inputs,
                      interrupted, reviews_to_score, submit_sorted)
from .precision import requested_path

LOCAL = "local"  # --ray without an address: start a Ray on this machine
READ_CHUNK = 256  # reviews per batch a reading task emits (re-cut into blocks of block_rows after)
NOT_SHIPPED = ("frozen.pb",)  # bundle files inference never reads: kept out of the object store
TOKENIZER_MEMORY = 256 * 2**20  # bytes of heap a tokenizing task reserves (a WordPiece vocab and a block)


# --- joining Ray -------------------------------------------------------------------------------------------------

def connect(address: str = LOCAL, num_cpus: int | None = None) -> bool:
    """Start a local Ray (`address` "local") or join a cluster ("auto", "ray://host:port", "host:port");
    returns whether this call started Ray, i.e. whether the caller should shut it down."""
    if address not in (LOCAL, "auto") and not re.fullmatch(r"(ray://)?[\w.\-]+:[0-9]+", address):
        raise BertvinoError(f"--ray {address!r}: expected auto, ray://HOST:PORT or HOST:PORT (to start a local Ray, "
                            "give --ray no address)")
    quiet_ray(local=address == LOCAL)
    if ray.is_initialized():
        return False
    if address != LOCAL and num_cpus is not None:
        raise BertvinoError("--ray-cpus is for the local Ray that --ray starts; a cluster's nodes declare their "
                            "own CPUs (ray start --num-cpus)")
    sigterm = signal.getsignal(signal.SIGTERM)
    try:
        ray.init(address=address, num_cpus=(num_cpus or os.cpu_count()) if address == LOCAL else None,
                 include_dashboard=False, logging_level="WARNING", configure_logging=True,
                 log_to_driver=True)
    except ConnectionError as err:
        raise BertvinoError(f"cannot join the Ray cluster at {address!r}: {err}") from None
    if sigterm is not None and threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, sigterm)  # Ray's C++ handler would end the driver with a stack dump
    return True


def quiet_ray(local: bool):
    """Keep Ray's chatter off a successful run's stderr.

    A local Ray keeps the token authentication Ray 2.59+ gives it by default, without the warning that says so at
    every start (a cluster's mode is the cluster's: docs/scoring.md). Ray Data warns when an operator gets fewer
    inputs than its task or actor limit, which a small input always does. (The C++ core worker's line about actor
    pools is dropped by `without_actor_restart_notice`.)
    """
    if local:
        logging.getLogger("ray._private.authentication.authentication_token_setup").setLevel(logging.ERROR)
    warnings.filterwarnings("ignore", message="The (maximum|minimum) number of concurrent", category=UserWarning)


# Logged at ERROR by the driver's C++ core worker for every Ray Data actor it creates, straight to file descriptor 2,
# though the pool works and restarts dead actors (ray-project/ray#53727; its constructor arguments are Ray Data's).
ACTOR_RESTART_NOTICE = re.compile(rb"core_worker\.cc:\d+: Actor with class name: .* has constructor arguments in "
                                  rb"the object store and max_restarts > 0")


@contextlib.contextmanager
def without_actor_restart_notice():
    """File descriptor 2 through a pipe that drops `ACTOR_RESTART_NOTICE` lines and passes everything else on at
    once (a progress bar's partial line too). Ray's C++ logger writes to the descriptor, past Python's sys.stderr
    and its filters; its own log level (RAY_BACKEND_LOG_LEVEL) would announce itself in every Ray process."""
    sys.stderr.flush()
    saved, (read_end, write_end) = os.dup(2), os.pipe()
    os.dup2(write_end, 2)
    os.close(write_end)

    def pump():
        pending = b""
        while chunk := os.read(read_end, 65536):
            *lines, pending = (pending + chunk).split(b"\n")
            out = b"".join(line + b"\n" for line in lines if not ACTOR_RESTART_NOTICE.search(line))
            if not pending.startswith(b"["):  # only a Ray log line starts with "[": hold it until it is whole
                out, pending = out + pending, b""
            if out:
                os.write(saved, out)
        os.write(saved, pending)

    thread = threading.Thread(target=pump, name="stderr-filter", daemon=True)
    thread.start()
    try:
        yield
    finally:
        sys.stderr.flush()
        os.dup2(saved, 2)  # closes the pipe's last write end: the pump reads to the end and stops
        thread.join(timeout=5)
        if not thread.is_alive():  # else a child process still holds the pipe: leave the pump its descriptors
            os.close(read_end)
            os.close(saved)


# --- getting the bundle to the workers ----------------------------------------------------------------------------

@dataclasses.dataclass(frozen=True)
class BundleSource:
    """Where a worker finds the bundle: `path` itself when every node reads it, else its files in Ray's object
    store (`files`, a reference to {name: bytes}), written to a temporary directory once per worker process."""

    path: str
    files: object = None  # ray.ObjectRef or None

    @property
    def shipped(self) -> bool:
        return self.files is not None

    def local_path(self) -> Path:
        if self.files is None:
            return Path(self.path)
        key = self.files.hex()
        if key not in _MATERIALISED:
            folder = Path(tempfile.mkdtemp(prefix="bertvino-bundle-"))
            atexit.register(shutil.rmtree, folder, ignore_errors=True)
            for name, data in ray.get(self.files).items():
                (folder / name).write_bytes(data)
            _MATERIALISED[key] = folder
        return _MATERIALISED[key]


_MATERIALISED = {}  # per worker process: object ref -> the directory its files were written to


def bundle_source(path, mode: str = "auto") -> BundleSource:
    """`mode` "path" (workers read `path`), "ship" (through the object store) or "auto": the path when every
    node of the cluster sees the same bundle there, else ship it."""
    path = Path(path).resolve()
    if mode not in ("auto", "path", "ship"):
        raise BertvinoError(f"unknown bundle distribution {mode!r}: choose auto, path or ship")
    if mode == "path" or (mode == "auto" and not _nodes_missing(path)):
        return BundleSource(str(path))
    files = {file.name: file.read_bytes() for file in sorted(path.iterdir())
             if file.is_file() and file.name not in NOT_SHIPPED}
    return BundleSource(str(path), ray.put(files))


def _nodes_missing(path: Path) -> list:
    """IDs of the live nodes that do not see the bundle at `path` as the driver does (same files, same sizes)."""
    expected = _fingerprint(path)
    check = ray.remote(num_cpus=0)(_fingerprint)
    nodes = [node["NodeID"] for node in ray.nodes() if node["Alive"]]
    seen = ray.get([check.options(scheduling_strategy=NodeAffinitySchedulingStrategy(node, soft=False)).remote(path)
                    for node in nodes])
    return [node for node, fingerprint in zip(nodes, seen) if fingerprint != expected]


def _fingerprint(path: Path) -> dict | None:
    """The size of each of a bundle's inference files, and its bundle.json's text; None where it is not readable."""
    try:
        sizes = {file.name: file.stat().st_size for file in path.iterdir()
                 if file.is_file() and file.name not in NOT_SHIPPED}
        return {"sizes": sizes, "bundle.json": (path / "bundle.json").read_text(encoding="utf-8")}
    except OSError:
        return None


# --- the pipeline's stages ----------------------------------------------------------------------------------------

def _read_paths(batch: dict, split, done_sources):
    """Reviews of each path in `batch`, in chunks; a review or a whole path that cannot be read becomes a row
    with `skipped` set, so the driver reports it as `score` does."""
    done = _cached_get(done_sources[0]) if done_sources else frozenset()
    for path in batch["path"]:
        chunk, skipped = [], []
        for review in reviews_to_score([path], split, done, lambda source, reason: skipped.append((source, reason))):
            chunk.append((review.source, review.text, review.label, None))
            if len(chunk) == READ_CHUNK:
                yield _review_table(chunk)
                chunk = []
        chunk += [(source, "", None, reason) for source, reason in skipped]
        if chunk:
            yield _review_table(chunk)


def _review_table(rows) -> pa.Table:
    source, text, gold, skipped = zip(*rows)
    return pa.table({"source": pa.array(source, pa.string()), "text": pa.array(text, pa.string()),
                     "gold": pa.array(gold, pa.string()), "skipped": pa.array(skipped, pa.string())})


def _tokenize(table: pa.Table, source: BundleSource, text_column: str, keep_text: bool) -> pa.Table:
    """Add each review's [CLS] ... [SEP] ids (truncated as the bundle was trained); a skipped row or one without
    text (null, empty or only whitespace) gets no ids, which tells `ClassifyBlocks` to leave it unlabelled."""
    tokenizer, max_seq_length, truncation = _cached_tokenizer(source)
    texts = table.column(text_column).to_pylist()
    skipped = table.column("skipped").to_pylist() if "skipped" in table.column_names else [None] * len(texts)
    wanted = [row for row, (text, reason) in enumerate(zip(texts, skipped))
              if reason is None and text is not None and text.strip()]  # classify refuses empty text too
    ids = [[] for _ in texts]
    for row, row_ids in zip(wanted, encode_batch(tokenizer, [texts[row] for row in wanted], max_seq_length,
                                                 truncation)):
        ids[row] = row_ids
    if not keep_text:
        table = table.drop_columns([text_column])
    return table.append_column("_ids", pa.array(ids, pa.list_(pa.int32())))


class ClassifyBlocks:
    """A Ray Data actor: the bundle compiled once, then a block at a time as `score` runs a window (`submit_sorted`)."""

    def __init__(self, source: BundleSource, device="CPU", threads=None, batch_size=BATCH_SIZE, precision="auto"):
        self.classifier = Classifier(load_bundle(source.local_path()), device=device, performance_hint="THROUGHPUT",
                                     precision=precision, threads=threads)
        self.labels = self.classifier.bundle.labels
        self.batch_size = batch_size
        self.runner = AsyncBatches(self.classifier, self._finished)
        self.probabilities = None

    def _finished(self, rows, probabilities, _seconds):  # called from OpenVINO's threads, each batch its own rows
        self.probabilities[rows] = probabilities

    def __call__(self, table: pa.Table) -> pa.Table:
        ids = table.column("_ids").to_pylist()
        rows = [row for row in range(len(ids)) if ids[row]]  # rows without ids stay unlabelled
        self.probabilities = np.full((len(ids), len(self.labels)), np.nan, dtype=np.float32)
        submit_sorted(self.runner, [ids[row] for row in rows], rows, self.batch_size)
        self.runner.wait()
        labelled = ~np.isnan(self.probabilities[:, 0])
        predicted = [self.labels[i] if ok else None for i, ok in zip(self.probabilities.argmax(axis=1), labelled)]
        table = table.drop_columns(["_ids"]).append_column("label", pa.array(predicted, pa.string()))
        for i, label in enumerate(self.labels):
            table = table.append_column(f"p_{label}", pa.array(self.probabilities[:, i]))
        return table


def classify_dataset(ds, model=None, text_column="text", actors=None, threads=None, batch_size=BATCH_SIZE,
                     device="CPU", precision="auto", bundle="auto"):
    """Label every row of a Ray Dataset: adds `label` and `p_<label>` per label, keeping the other columns.

    `model` is a bundle directory or a bundled model's name (None: the default model); `actors` the size of the
    classifying pool (default: the cluster's CPUs over `threads`), `threads` the OpenVINO threads of each
    (default: a node's CPUs, so one actor per node); `bundle` how workers get the bundle ("auto", "path" or
    "ship", see `bundle_source`). A row whose text is null, empty or only whitespace gets a null label and NaN
    probabilities (where `classify` answers an error). Rows come back in no particular order, as Ray Data's
    by default: join on a column of your own, or set `ray.data.DataContext.get_current().execution_options.
    preserve_order = True` before creating the Dataset (a Dataset keeps the context it was made in; order costs
    some throughput).
    """
    from ..models import find_model
    if not ray.is_initialized():
        quiet_ray(local=not os.environ.get("RAY_ADDRESS"))
        ray.init()  # what Ray Data would do; the bundle check below needs the cluster first
    source = bundle_source(load_bundle(find_model(model)).path, bundle)
    return _classify(ds, source, actors, threads, batch_size, device, precision, text_column,
                     keep_text=True)


def _classify(ds, source, actors, threads, batch_size, device, precision, text_column="text",
              keep_text=False):
    """Tokenize (tasks) and classify (an actor pool) a dataset with a text column (and maybe `skipped`).

    Tokenizing reserves no CPU but some memory: that also keeps Ray from fusing it into the task before it (Ray
    fuses stages that ask for the same resources), which would tokenize a whole input file in one task.
    """
    threads, actors = pool_size(actors, threads)
    tokens = ds.map_batches(_tokenize, fn_kwargs={"source": source, "text_column": text_column, "keep_text": keep_text},
                            batch_format="pyarrow", batch_size=None, num_cpus=0, memory=TOKENIZER_MEMORY,
                            compute=ray.data.TaskPoolStrategy(size=_light_tasks()))
    return tokens.map_batches(
        ClassifyBlocks, fn_constructor_kwargs={"source": source, "device": device, "threads": threads,
                                               "batch_size": batch_size, "precision": precision},
        batch_format="pyarrow", batch_size=None, compute=ray.data.ActorPoolStrategy(size=actors), num_cpus=threads)


def pool_size(actors=None, threads=None) -> tuple:
    """(OpenVINO threads per actor, actors): by default one actor per node using its every core."""
    threads = threads or node_cpus()
    return threads, actors or max(1, cluster_cpus() // threads)


def block_rows(total: int | None, actors: int, batch_size: int, window: int) -> int:
    """Reviews per block: a window of `score` (`window`), but small enough that every actor gets at least two
    blocks when the number of reviews is known (400 reviews in one block of 512 would leave all but one actor
    idle, and that one unable to overlap tokenizing with classifying); never under one batch."""
    if not total:
        return window
    return max(batch_size, min(window, -(-total // (2 * actors))))


def cluster_cpus() -> int:
    return max(1, int(ray.cluster_resources().get("CPU", 1)))


def node_cpus() -> int:
    """The CPUs of the smallest live node: by default one actor per node, its OpenVINO streams using every core
    (one copy of the model per node; on 2 cores this beat two 1-thread actors in benchmarks/ray_score.py)."""
    cpus = [node["Resources"].get("CPU", 0) for node in ray.nodes() if node["Alive"]]
    return max(1, int(min((c for c in cpus if c), default=1)))


def _light_tasks() -> int:
    """How many reading or tokenizing tasks may run at once. They reserve no CPU, so Ray would start one per
    block; a tokenizer keeps up with several actors (the compiled one does thousands of reviews a second)."""
    return max(2, cluster_cpus() // 8)


def _in_blocks(ds, rows: int):
    """`ds` re-cut into blocks of about `rows` rows as it streams by, inside the tasks that make it.

    Ray Data gives a streaming repartition its own 1-CPU tasks unless it fuses with the stage before, and that
    stage reserves no CPU; a repartition waiting for a CPU that the actors hold would stall the pipeline, so it
    is set to reserve none either, and fuses. (Ray 2.60 has no public argument for this.)
    """
    blocks = ds.repartition(target_num_rows_per_block=rows)
    blocks._logical_plan.dag.ray_remote_args["num_cpus"] = 0
    return blocks


# --- the score command ---------------------------------------------------------------------------------------------

@dataclasses.dataclass
class RayOptions:
    """score --ray's own options (the rest are score's)."""

    address: str = LOCAL
    num_cpus: int | None = None  # of the local Ray; None: this machine's
    actors: int | None = None
    threads: int | None = None
    bundle: str = "auto"
    block_rows: int | None = None  # None: a window of `score`


def ray_score(paths, model_path, options: RayOptions, output=None, resume=False, overwrite=False,
              batch_size=BATCH_SIZE, split=None, progress=True, device="CPU", precision=None, say=print,
              on_block=None) -> ScoreSummary:
    """`score` on Ray; `say` hears one line on how the bundle reaches the workers, `on_block(rows)` (if given)
    hears of each block of results as it is written (benchmarks time the blocks with it)."""
    check_batch_size(batch_size)
    check_inputs(paths, split)
    bundle = load_bundle(model_path)
    precision, _ = requested_path(precision)  # a bad option (or $BERTVINO_PRECISION) fails here, not in every actor
    with open_writer(output, bundle.labels, resume=resume, overwrite=overwrite) as writer:
        started_ray = connect(options.address, options.num_cpus)
        try:
            source = bundle_source(bundle.path, options.bundle)
            why = {"ship": "as --ray-bundle ship asks", "path": "as --ray-bundle path asks"}.get(options.bundle)
            say(f"bundle {bundle.path} reaches the workers " + (
                "through Ray's object store " if source.shipped else "by its path ")
                + f"({why or ('not every node can read its path' if source.shipped else 'every node reads it there')})")
            with ScoringRun(paths, split, writer, output, progress) as run:
                _score(paths, source, options, run, batch_size, split, device, precision,
                       on_block or (lambda rows: None))
        except (KeyboardInterrupt, Interrupted) as err:  # the rows already written are whole; say what is kept
            raise interrupted(err, output, writer.rows_kept()) from None
        finally:
            if started_ray:
                ray.shutdown()
    return run.summary()


def _score(paths, source, options, run: ScoringRun, batch_size, split, device, precision, on_block):
    """The distributed part of `score --ray`: the pipeline, and its rows handed to `run` as they arrive."""
    context = ray.data.DataContext.get_current()
    context.enable_progress_bars = False  # score draws its own bar, counted in rows written
    context.print_on_execution_start = False
    for chatter in ("ray.data._internal.progress", "ray.data._internal.execution.streaming_executor"):
        logging.getLogger(chatter).setLevel(logging.ERROR)  # "progress bars disabled", "execution finished in"
    reviews = ray.data.from_items([{"path": str(path)} for path in paths], override_num_blocks=len(paths))
    reviews = reviews.map_batches(_read_paths, fn_kwargs={"split": split, "done_sources": (ray.put(run.done_sources),)},
                                  batch_size=1, batch_format="numpy", num_cpus=0,
                                  compute=ray.data.TaskPoolStrategy(size=_light_tasks()),
                                  label_selector={"ray.io/node-id": ray.get_runtime_context().get_node_id()})
    threads, actors = pool_size(options.actors, options.threads)
    total = run.bar.total  # the reviews counted for the bar; without a bar, counted here unless the size is given
    if total is None and not options.block_rows:
        total = count_reviews(paths, split)  # None for CSV/JSONL, which are not counted first
    rows_per_block = options.block_rows or block_rows(total and total - len(run.done_sources), actors, batch_size,
                                                      batch_size * WINDOW_BATCHES)
    blocks = _in_blocks(reviews, rows_per_block)
    results = _classify(blocks, source, actors, threads, batch_size, device, precision)
    written = set(run.done_sources)
    with without_actor_restart_notice():
        for table in results.iter_batches(batch_size=None, batch_format="pyarrow"):
            rows = []
            for row in table.to_pylist():
                if row["skipped"] is not None:
                    run.skip(row["source"], row["skipped"])
                elif row["source"] not in written:  # a retried task can deliver a row twice; it is written once
                    written.add(row["source"])
                    prediction = Prediction(row["label"], {label: row[f"p_{label}"] for label in run.labels})
                    rows.append((row["source"], prediction, gold_label(row["gold"], run.labels)))
            run.write(rows)
            if run.write_failed:
                break
            on_block(len(rows))


def _cached_get(ref):
    key = ref.hex()
    if key not in _FETCHED:
        _FETCHED.clear()
        _FETCHED[key] = ray.get(ref)
    return _FETCHED[key]


_FETCHED = {}


def _cached_tokenizer(source: BundleSource):
    """(tokenizer, max_seq_length, how it reads long texts) of the bundle, made once per worker process."""
    key = (source.path, source.files.hex() if source.files else None)
    if key not in _TOKENIZERS:
        bundle = load_bundle(source.local_path())
        _TOKENIZERS[key] = (bundle.tokenizer(), bundle.max_seq_length, reading(bundle.truncation,
                                                                                          bundle.long_texts))
    return _TOKENIZERS[key]


_TOKENIZERS = {}


# --- Parquet output --------------------------------------------------------------------------------------------------

def is_parquet_output(output) -> bool:
    return output is not None and (str(output).endswith(("/", os.sep)) or str(output).endswith(".parquet"))


def open_writer(output, labels, resume=False, overwrite=False):
    """A Parquet directory's writer, or `score`'s own for a file or stdout; checked before any work starts."""
    if is_parquet_output(output):
        return ParquetParts(output, labels, resume=resume, overwrite=overwrite)
    if output is not None:
        check_writable(output)
    return RowWriter(output, labels, resume=resume, overwrite=overwrite)


class ParquetParts:
    """Rows as a directory of Parquet files, one per block written: each is written under a hidden temporary
    name and renamed, so a reader (or `--resume`) only ever sees whole parts. Columns as `RowWriter`'s."""

    PATTERN = "part-*.parquet"

    def __init__(self, path, labels, resume=False, overwrite=False):
        self.path = Path(path)
        self.labels = labels
        self.columns = ["source", "label", *[f"p_{label}" for label in labels], "gold"]
        self.run = f"{time.strftime('%Y%m%dT%H%M%S')}-{uuid.uuid4().hex[:6]}"  # parts of this run sort together
        self.count = 0
        self.error = None  # the OSError that stopped writing (a full disk), if one did
        if self.path.exists() and not self.path.is_dir():
            raise file_error(self.path, "exists and is not a directory: a Parquet output is a directory of parts")
        parts = sorted(self.path.glob(self.PATTERN)) if self.path.is_dir() else []
        if parts and not (resume or overwrite):
            raise file_error(self.path, "holds results: pass --resume to continue them, or --overwrite to start again")
        for stale in self.path.glob(".part-*.tmp") if self.path.is_dir() else []:
            stale.unlink()  # a part whose writer was killed before its rename
        if overwrite and not resume:
            for part in parts:
                part.unlink()
            parts = []
        self.existing_rows = self._read_existing(parts)
        self.rows_in_file = len(self.existing_rows)
        try:
            self.path.mkdir(parents=True, exist_ok=True)
        except OSError as err:
            raise cannot_write(self.path, err) from None

    def write(self, rows):
        """rows: (source, Prediction, gold) triples, as `RowWriter.write` takes them."""
        columns = {"source": [source for source, _, _ in rows],
                   "label": [prediction.label for _, prediction, _ in rows]}
        for label in self.labels:
            columns[f"p_{label}"] = pa.array([prediction.probabilities[label] for _, prediction, _ in rows],
                                             pa.float32())
        columns["gold"] = [gold or "" for _, _, gold in rows]
        self.count += 1
        name = f"part-{self.run}-{self.count:05d}.parquet"
        temporary = self.path / f".{name}.tmp"
        try:
            pq.write_table(pa.table(columns), temporary)
            os.replace(temporary, self.path / name)
        except OSError as err:
            self.error = err
            temporary.unlink(missing_ok=True)
            return
        self.rows_in_file += len(rows)

    def rows_kept(self) -> int:
        """The rows of the whole parts the directory holds now, as `RowWriter.rows_kept` (read back, not counted)."""
        return len(self._read_existing(sorted(self.path.glob(self.PATTERN))))

    def close(self):
        pass

    def __enter__(self):
        return self

    def __exit__(self, *_):
        self.close()

    def _read_existing(self, parts) -> list:
        rows = []
        for part in parts:
            try:
                table = pq.read_table(part)
            except (OSError, pa.ArrowInvalid) as err:
                raise file_error(part, f"is not a readable Parquet file ({err}); cannot resume") from None
            if table.column_names != self.columns:
                raise file_error(part, f"has columns {table.column_names}, this model writes {self.columns}; "
                                       "cannot resume it with another model")
            rows += table.to_pylist()  # the probabilities too: the calibration metrics count these rows
        return rows
