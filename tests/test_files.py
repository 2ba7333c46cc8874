"""The atomic writers: a file or directory appears whole or not at all."""

import pytest

from bertvino.core.errors import BertvinoError
from bertvino.core.files import atomic_directory, portable_paths


def test_a_directory_appears_only_when_complete(tmp_path):
    with atomic_directory(tmp_path / "out") as staging:
        (staging / "a.txt").write_text("a")
        assert not (tmp_path / "out").exists()
    assert [p.name for p in tmp_path.iterdir()] == ["out"] and (tmp_path / "out" / "a.txt").read_text() == "a"


def test_an_interrupted_writer_leaves_nothing(tmp_path):
    with pytest.raises(KeyboardInterrupt):
        with atomic_directory(tmp_path / "out") as staging:
            (staging / "a.txt").write_text("a")
            raise KeyboardInterrupt
    assert list(tmp_path.iterdir()) == []


def test_a_full_directory_is_replaced_only_when_asked(tmp_path):
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "old.txt").write_text("old")
    with pytest.raises(BertvinoError, match="not empty; refusing to overwrite"):
        with atomic_directory(tmp_path / "out"):
            pass
    with atomic_directory(tmp_path / "out", replace=True) as staging:
        (staging / "new.txt").write_text("new")
    assert [p.name for p in (tmp_path / "out").iterdir()] == ["new.txt"]
    assert [p.name for p in tmp_path.iterdir()] == ["out"]


def test_provenance_keeps_no_build_machine_directory_even_inside_a_command():
    recorded = {"checkpoint": "/home/ann/runs/imdb/pass2/model.ckpt-340",
                "command": "python benchmarks/imdb_accuracy.py -m /home/ann/runs/imdb/bundle --split test",
                "data": ["aclImdb_v1 train/: 20,000 (test/)", "https://example.org/a/b", "head+tail:64"]}
    assert portable_paths(recorded) == {
        "checkpoint": "imdb/pass2/model.ckpt-340",
        "command": "python benchmarks/imdb_accuracy.py -m runs/imdb/bundle --split test",
        "data": ["aclImdb_v1 train/: 20,000 (test/)", "https://example.org/a/b", "head+tail:64"]}


def test_bundle_json_writers_keep_what_another_writer_added_meanwhile(fp32_bundle, copy_bundle):
    """A recipe loads a bundle, records an IR's accuracy, then its provenance: the record must survive."""
    from bertvino.core.bundle import load_bundle, update_ir_record, update_metadata

    path = copy_bundle(fp32_bundle)
    loaded_first = load_bundle(path)
    update_ir_record(load_bundle(path), "model.xml", {"accuracy": {"test": {"accuracy": 0.5}}})
    update_metadata(loaded_first, provenance={"recipe": "a recipe"})
    metadata = load_bundle(path).metadata
    assert metadata["irs"]["model.xml"]["accuracy"] == {"test": {"accuracy": 0.5}}
    assert metadata["provenance"] == {"recipe": "a recipe"}
