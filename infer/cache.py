"""bertvino's cache directory: what it learns about this machine (auto's measurements, OpenVINO's compiled models).

$BERTVINO_CACHE_DIR, else $XDG_CACHE_HOME/bertvino, else ~/.cache/bertvino. A directory that cannot be written
(a read-only home) is not an error: callers get None and go without a cache.
"""

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
