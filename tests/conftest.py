"""Shared fixtures: tiny random checkpoints in Google's layouts, tiny reviews, and bundles made from them.

Session-scoped, so the TensorFlow work (making checkpoints, freezing) is done once for the whole run.
"""

import atexit
import os
import shutil
import sys
import tempfile
from pathlib import Path

import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # keep TensorFlow's start-up chatter out of test output
# A cache of its own for the run (auto's measurements, OpenVINO's compiled models), so no test reads the user's
# measured tables and none writes into ~/.cache; subprocesses inherit it.
os.environ["BERTVINO_CACHE_DIR"] = tempfile.mkdtemp(prefix="bertvino-test-cache-")
atexit.register(shutil.rmtree, os.environ["BERTVINO_CACHE_DIR"], ignore_errors=True)
sys.path.insert(0, str(Path(__file__).resolve().parent))

import checkpoints  # noqa: E402  (tests/checkpoints.py)


@pytest.fixture(scope="session")
def pretrained_checkpoint(tmp_path_factory) -> str:
    """Prefix of a Google-released-style checkpoint: `.../bert_model.ckpt`, with cls/*, no classifier head."""
    return checkpoints.make_pretrained(tmp_path_factory.mktemp("pretrained"))


@pytest.fixture(scope="session")
def finetuned_checkpoint(tmp_path_factory) -> str:
    """Prefix of a run_classifier.py-style checkpoint: `.../model.ckpt-7`, with head, Adam slots, global_step."""
    return checkpoints.make_finetuned(tmp_path_factory.mktemp("finetuned"))


@pytest.fixture(scope="session")
def reviews_dir(tmp_path_factory) -> Path:
    return checkpoints.make_reviews(tmp_path_factory.mktemp("reviews"), per_label=24)


@pytest.fixture(scope="session")
def frozen_bundle(tmp_path_factory, finetuned_checkpoint) -> Path:
    """A bundle frozen from the fine-tuned checkpoint, not yet converted. Tests must not modify it."""
    from bertvino.convert.freeze import freeze
    return freeze(finetuned_checkpoint, tmp_path_factory.mktemp("bundles") / "frozen", max_seq_length=32)


@pytest.fixture(scope="session")
def fp32_bundle(tmp_path_factory, frozen_bundle) -> Path:
    """A converted (FP32) copy of `frozen_bundle`. Tests must not modify it; copy it first (`copy_bundle`)."""
    import shutil
    from bertvino.convert.ir import convert
    path = tmp_path_factory.mktemp("bundles") / "fp32"
    shutil.copytree(frozen_bundle, path)
    convert(path, precision="fp32")
    return path


@pytest.fixture
def copy_bundle(tmp_path):
    """Copy a session bundle into this test's tmp_path, for tests that damage it."""
    import shutil

    def copy(bundle: Path) -> Path:
        return Path(shutil.copytree(bundle, tmp_path / bundle.name))
    return copy
