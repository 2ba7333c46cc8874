"""Bundled models, and finding a model by name or path.

A bundled model is a complete bundle directory inside this package (installed as package data). `-m` takes either
a path to any bundle directory or the name of a bundled one; no `-m` means `DEFAULT_MODEL`.
"""

from pathlib import Path

from ..core.errors import BertvinoError

MODELS_DIR = Path(__file__).resolve().parent
DEFAULT_MODEL = "imdb-minilm"


def bundled_models() -> list:
    """Names of the bundles shipped with this install."""
    return sorted(p.name for p in MODELS_DIR.iterdir() if (p / "bundle.json").is_file())


def find_model(name_or_path=None) -> Path:
    """The bundle directory that `-m` names: a path, a bundled model's name, or (None) the default model."""
    if name_or_path is None:
        if not (MODELS_DIR / DEFAULT_MODEL / "bundle.json").is_file():
            raise BertvinoError("no default model is bundled with this install; pass -m BUNDLE_DIR "
                                "(made by `bertvino freeze` and `bertvino convert`)")
        return MODELS_DIR / DEFAULT_MODEL
    path = Path(name_or_path)
    if path.exists() or "/" in str(name_or_path) or "\\" in str(name_or_path):
        return path
    if name_or_path in bundled_models():
        return MODELS_DIR / name_or_path
    return path  # load_bundle reports it as missing, by the name the user gave
