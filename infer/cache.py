"""bertvino's cache directory: what it learns about this machine (auto's measurements, OpenVINO's compiled models).

$BERTVINO_CACHE_DIR, else $XDG_CACHE_HOME/bertvino, else ~/.cache/bertvino. A directory that cannot be written
(a read-only home) is not an error: callers get None and go without a cache.
"""

import hashlib
import json
import os
from pathlib import Path

CACHE_ENV = "BERTVINO_CACHE_DIR"


def cache_dir() -> Path:
    """Where bertvino keeps what it learns about this machine (measurements, OpenVINO's compiled models)."""
    if os.environ.get(CACHE_ENV):
        return Path(os.environ[CACHE_ENV])
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "bertvino"


def writable_cache(sub: str) -> Path | None:
    """`cache_dir()/sub`, made if need be, or None when it cannot be written (a read-only home)."""
    path = cache_dir() / sub
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError:
        return None
    return path if os.access(path, os.W_OK | os.X_OK) else None


SAMPLED_BLOCKS, BLOCK_BYTES = 64, 4096


def ir_identity(model_xml) -> dict:
    """What tells one IR's content from another's, cheaply: the sha256 of its .xml, and of its .bin the size, the
    mtime and a sha256 of 64 evenly spaced 4 KiB blocks. The .xml alone is not enough: two models of the same shape
    converted alike have byte-identical .xml files (v2 and v3 of the default model do), and hashing all of a 45 MB
    .bin would cost a warm start more than a third of what the cache saves it."""
    model_xml = Path(model_xml)
    binary = model_xml.with_suffix(".bin")
    stat = binary.stat()
    sample = hashlib.sha256()
    with open(binary, "rb") as file:
        for block in range(SAMPLED_BLOCKS):
            file.seek(stat.st_size * block // SAMPLED_BLOCKS)
            sample.update(file.read(BLOCK_BYTES))
    return {"xml_sha256": hashlib.sha256(model_xml.read_bytes()).hexdigest(), "bin_bytes": stat.st_size,
            "bin_mtime_ns": stat.st_mtime_ns, "bin_sample_sha256": sample.hexdigest()}


def model_cache(model_xml) -> Path | None:
    """OpenVINO's CACHE_DIR for this IR: a directory per IR content (`ir_identity`), or None when the cache cannot
    be written. OpenVINO keys a model compiled from a file by the file's path and its .xml, not its weights, so an IR
    whose .bin was rewritten in place (`convert` again, a new default model) would be served the old compiled model."""
    key = hashlib.sha256(json.dumps(ir_identity(model_xml), sort_keys=True).encode()).hexdigest()[:20]
    return writable_cache(f"openvino/{key}")
