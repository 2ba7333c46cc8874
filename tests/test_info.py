"""`bertvino info`: what a bundle is, for people and for scripts."""

import json

from bertvino.cli import main


def test_json_has_the_path_and_the_metadata(fp32_bundle, capsys):
    assert main(["info", "-m", str(fp32_bundle), "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["path"] == str(fp32_bundle.resolve())
    assert info["labels"] == ["negative", "positive"] and info["max_seq_length"] == 32
    assert info["precision"] == "fp32" and info["truncation"] == "head"
    assert info["provenance"]["global_step"] == 7 and info["provenance"]["checkpoint"].endswith("model.ckpt-7")


def test_text_shows_fields_and_an_unconverted_bundle_says_so(frozen_bundle, capsys):
    assert main(["info", "-m", str(frozen_bundle)]) == 0
    out = capsys.readouterr().out
    assert f"path: {frozen_bundle.resolve()}" in out
    assert "labels: negative, positive" in out and "max_seq_length: 32" in out
    assert "precision: none" in out and "  global_step: 7" in out


def test_info_on_a_missing_bundle_is_a_one_line_error(tmp_path, capsys):
    assert main(["info", "-m", str(tmp_path / "nope")]) == 1
    assert len(capsys.readouterr().err.strip().splitlines()) == 1
