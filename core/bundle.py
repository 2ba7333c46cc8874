"""The bundle: the one contract between freeze, convert and infer, read and checked here and nowhere else.

The files and fields are documented in docs/bundle.md. `freeze` writes a whole bundle into a temporary directory
and renames it into place; `convert` adds the IR so that `model.xml` (what makes a bundle usable) is the last file
to appear, so a killed writer never leaves a bundle that loads. bundle.json's `irs` maps each IR's file name to how
it was made and its measured accuracy; bundles from before INT8 IRs (no `irs`) load unchanged.

bundle.json's optional `calibration` (written by `bertvino calibrate`) divides the head's logits by a fitted
temperature; its optional `long_texts` ("windows:S", or "windows:S,below:P") reads long texts whole (or when
unsure). Bundles without them load unchanged.
"""

import dataclasses
from pathlib import Path

import numpy as np

from .errors import BertvinoError, file_error
from .files import atomic_directory, portable_paths, read_json_object, write_json_atomically
from .labels import check_labels

FORMAT_VERSION = 1
METADATA_FILE = "bundle.json"
# "Precision" means three things in bertvino, each with its own name, declared once: the WEIGHT FORMAT of an IR
# (here), the PATH a classifier runs (infer/precision.py PATHS, what `--precision` picks), and the ARITHMETIC HINT
# OpenVINO computes the float ops in (infer/precision.py ARITHMETIC_HINTS).
WEIGHT_FORMATS = ("fp32", "fp16", "int8")  # how an IR stores its weights (convert --precision)
FLOAT_IR = "model.xml"
INT8_IR = "model-int8.xml"
# Where bundle.json keeps each path's measured accuracy: (the IR it runs, the key in that IR's `irs` entry). bf16
# runs the float IR, so its record sits in the float IR's entry and goes with it when the float IR is remade.
ACCURACY_RECORDS = {"f32": (FLOAT_IR, "accuracy"), "bf16": (FLOAT_IR, "bf16_accuracy"),
                    "int8": (INT8_IR, "accuracy")}

# The model contract, the names every stage agrees on: training builds the graph with them, freeze cuts it and
# reads the head by them, convert names the IR's ports by them, and inference feeds and reads those ports.
INPUT_NAMES = ("input_ids", "input_mask", "segment_ids")  # graph placeholders and IR inputs, int32 [batch, seq]
POOLER_OP = "bert/pooler/dense/Tanh"  # the frozen graph's output op: the pooled [CLS] vector, [batch, hidden]
OUTPUT_NAME = "pooled_output"  # the IR's name for that output
HEAD_VARIABLES = ("output_weights", "output_bias")  # run_classifier.py's head -> weight.npy, bias.npy


@dataclasses.dataclass(frozen=True)
class Bundle:
    """A checked bundle directory. Files are loaded on demand: `head()`, `tokenizer()`, `model_xml`."""

    path: Path
    labels: tuple
    max_seq_length: int
    truncation: str
    do_lower_case: bool
    hidden_size: int
    vocab_size: int
    precision: str | None  # None until `convert` has made the IR
    metadata: dict  # bundle.json as written, provenance and all

    vocab_file = property(lambda self: self.path / "vocab.txt")
    frozen_graph = property(lambda self: self.path / "frozen.pb")
    model_xml = property(lambda self: self.path / FLOAT_IR)
    model_bin = property(lambda self: self.path / "model.bin")
    int8_xml = property(lambda self: self.path / INT8_IR)
    int8_bin = property(lambda self: self.path / "model-int8.bin")
    weight_file = property(lambda self: self.path / "weight.npy")
    bias_file = property(lambda self: self.path / "bias.npy")

    @property
    def long_texts(self) -> str:
        """How inference reads texts longer than max_seq_length: "truncate" (as `truncation` says, the default) or
        "windows:S" (overlapping windows) or "windows:S,below:P" (windows for the long texts the truncated read left
        unsure), see core/features.py."""
        return self.metadata.get("long_texts", "truncate")

    @property
    def calibration_record(self) -> dict | None:
        """bundle.json's `calibration` (method, parameters, the data it was fitted on, metrics before and after),
        None for a bundle that gives its model's own probabilities."""
        return self.metadata.get("calibration")

    @property
    def has_ir(self) -> bool:
        return self.model_xml.is_file()

    @property
    def has_int8_ir(self) -> bool:
        """An INT8 IR beside the float one (both files: convert publishes the .xml last)."""
        return self.int8_xml.is_file() and self.int8_bin.is_file()

    def ir_record(self, xml_name: str) -> dict:
        """What bundle.json says about one IR (`FLOAT_IR` or `INT8_IR`): how it was made, its accuracy; {} if
        nothing is recorded."""
        return dict((self.metadata.get("irs") or {}).get(xml_name) or {})

    def path_accuracy(self, path: str) -> dict:
        """The accuracy recorded for a path ("f32", "bf16", "int8"), as `bertvino validate` writes it; {} if none."""
        xml_name, key = ACCURACY_RECORDS[path]
        return dict(self.ir_record(xml_name).get(key) or {})

    def head(self):
        """(weight [labels, hidden], bias [labels]) as float32, checked against the labels and hidden size."""
        weight = _load_npy(self.weight_file, (len(self.labels), self.hidden_size))
        bias = _load_npy(self.bias_file, (len(self.labels),))
        return weight, bias

    def tokenizer(self):
        """The bundle's WordPiece tokenizer (compiled unless $BERTVINO_TOKENIZER=python), checked to match the
        model's embedding table."""
        from .fast_tokenization import load_tokenizer
        tokenizer = load_tokenizer(str(self.vocab_file), do_lower_case=self.do_lower_case)
        if len(tokenizer.vocab) != self.vocab_size:
            raise file_error(self.vocab_file, f"has {len(tokenizer.vocab)} tokens but the model's embedding "
                                              f"table has {self.vocab_size} rows: is it the checkpoint's own vocab?")
        return tokenizer


def load_bundle(path, require_ir: bool = True) -> Bundle:
    """Read and check a bundle; with `require_ir`, it must have been converted."""
    path = Path(path)
    if not path.is_dir():
        raise file_error(path, "no such model bundle directory" if not path.exists() else
                         "not a model bundle: expected a directory made by `bertvino freeze`")
    meta = _read_metadata(path)
    bundle = Bundle(path=path, labels=tuple(meta["labels"]), max_seq_length=meta["max_seq_length"],
                    truncation=meta["truncation"], do_lower_case=meta["do_lower_case"],
                    hidden_size=meta["hidden_size"], vocab_size=meta["vocab_size"],
                    precision=meta.get("precision"), metadata=meta)
    for needed in (bundle.vocab_file, bundle.weight_file, bundle.bias_file):
        if not needed.is_file():
            raise file_error(needed, "missing from the bundle")
    if require_ir:
        if not bundle.has_ir:
            raise file_error(path, "has no OpenVINO IR (model.xml) yet: run `bertvino convert "
                                   f"{path}` first")
        if not bundle.model_bin.is_file():
            raise file_error(bundle.model_bin, "missing: the IR's weights must sit beside model.xml")
    return bundle


def _read_metadata(path: Path) -> dict:
    meta_path = path / METADATA_FILE
    if not meta_path.is_file():
        raise file_error(path, f"not a model bundle: it has no {METADATA_FILE}")
    meta = read_json_object(meta_path, "a bundle's metadata")
    if meta.get("format_version") != FORMAT_VERSION:
        raise file_error(meta_path, f"bundle format version {meta.get('format_version')!r}; this bertvino "
                                    f"reads version {FORMAT_VERSION}")
    expected = {"labels": list, "max_seq_length": int, "truncation": str, "do_lower_case": bool,
                "hidden_size": int, "vocab_size": int}
    for key, kind in expected.items():
        if not isinstance(meta.get(key), kind) or (kind is int and isinstance(meta.get(key), bool)):
            raise file_error(meta_path, f"'{key}' must be a {kind.__name__}, not {meta.get(key)!r}")
    try:
        if not all(isinstance(label, str) for label in meta["labels"]):
            raise BertvinoError("'labels' must be strings")
        check_labels(meta["labels"])
    except BertvinoError as err:
        raise file_error(meta_path, str(err)) from None
    if meta.get("precision") not in (None, *WEIGHT_FORMATS):
        raise file_error(meta_path, f"unknown precision {meta.get('precision')!r}")
    if not isinstance(meta.get("calibration", {}), dict):
        raise file_error(meta_path, f"'calibration' must be an object, not {meta['calibration']!r}")
    if not isinstance(meta.get("long_texts", "truncate"), str):
        raise file_error(meta_path, f"'long_texts' must be 'truncate', 'windows:S' or 'windows:S,below:P', not {meta['long_texts']!r}")
    irs = meta.get("irs", {})
    if not isinstance(irs, dict) or not all(isinstance(record, dict) for record in irs.values()):
        raise file_error(meta_path, "'irs' must map IR file names to objects")
    return meta


def _load_npy(path: Path, shape: tuple) -> np.ndarray:
    try:
        array = np.load(path, allow_pickle=False)
    except ValueError as err:
        reason = "a pickled object array, which bertvino never loads" if "pickle" in str(err) else str(err)
        raise file_error(path, f"not a plain NumPy array: {reason}") from None
    except (OSError, EOFError) as err:
        raise file_error(path, f"cannot read it as a .npy file: {err}") from None
    if not isinstance(array, np.ndarray) or array.dtype.kind != "f":
        raise file_error(path, f"expected floating-point numbers, found dtype {getattr(array, 'dtype', '?')}")
    if array.shape != shape:
        by_hidden = " by the hidden size" if len(shape) == 2 else ""
        raise file_error(path, f"has shape {list(array.shape)}, expected {list(shape)}: one row per label in "
                               f"{path.parent / METADATA_FILE}{by_hidden}")
    if not np.all(np.isfinite(array)):
        raise file_error(path, "holds NaN or infinite values")
    return array.astype(np.float32, copy=False)


def write_bundle(path, metadata: dict, fill, overwrite: bool = False):
    """Make a bundle atomically: `fill(tmp_dir)` writes its files into a staging directory that becomes `path`.

    An existing bundle at `path` is replaced whole only with `overwrite` (its IR goes with it); any other existing
    file or directory, save an empty one, is never touched.
    """
    path = Path(path)
    if path.exists() and not (path / METADATA_FILE).is_file():
        if not path.is_dir() or any(path.iterdir()):
            raise file_error(path, "exists and is not a model bundle; refusing to overwrite it")
    elif path.exists() and not overwrite:
        what = "a converted model bundle" if (path / "model.xml").is_file() else "a model bundle"
        raise file_error(path, f"exists ({what}): pass --overwrite to replace it whole, or choose another --output")
    with atomic_directory(path, replace=True) as staging:
        fill(staging)
        write_json_atomically(staging / METADATA_FILE, {"format_version": FORMAT_VERSION, **metadata})


def update_metadata(bundle: Bundle, **changes) -> dict:
    """Rewrite bundle.json with `changes` (atomically, and with any absolute path in them made portable, as a
    bundle is shipped to machines where the build machine's directories mean nothing); returns the new metadata.
    Re-reads bundle.json first, as the other writers do: `bundle` may have been loaded before one of them wrote."""
    metadata = {**_read_metadata(bundle.path), **portable_paths(changes)}
    write_json_atomically(bundle.path / METADATA_FILE, metadata)
    return metadata


def update_calibration(bundle: Bundle, record: dict | None) -> dict:
    """Write (or, with None, remove) bundle.json's `calibration` record, atomically; re-reads bundle.json first so
    a field another writer added meanwhile survives."""
    metadata = _read_metadata(bundle.path)
    metadata.pop("calibration", None)
    if record is not None:
        metadata["calibration"] = portable_paths(record)
    write_json_atomically(bundle.path / METADATA_FILE, metadata)
    return metadata


def update_ir_record(bundle: Bundle, xml_name: str, record: dict, replace: bool = False) -> dict:
    """Merge `record` into bundle.json's entry for one IR (or, with `replace`, start the entry afresh, as a new
    IR invalidates the old one's accuracy); re-reads bundle.json first so two writers' fields both survive."""
    metadata = _read_metadata(bundle.path)
    irs = dict(metadata.get("irs") or {})
    record = portable_paths(record)
    irs[xml_name] = record if replace else {**(irs.get(xml_name) or {}), **record}
    metadata["irs"] = irs
    write_json_atomically(bundle.path / METADATA_FILE, metadata)
    return metadata



def record_path_accuracy(bundle: Bundle, path: str, record: dict) -> dict:
    """Write a path's measured accuracy where `Bundle.path_accuracy` (and so auto's guard) reads it."""
    xml_name, key = ACCURACY_RECORDS[path]
    return update_ir_record(bundle, xml_name, {key: record})
