"""`bertvino classify`: output forms, stdin, devices, and no TensorFlow on the inference path."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest

from bertvino.core.bundle import load_bundle
from bertvino.cli import main
from bertvino.infer.classifier import Classifier

TEXTS = ["the movie was good and brilliant", "awful , boring and dull !"]


def bertvino(*args, stdin=None):
    """Run the real command in a fresh process, as a user would."""
    return subprocess.run([sys.executable, "-m", "bertvino", *args], input=stdin, capture_output=True, text=True,
                          env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}, timeout=300)


def test_json_output_is_one_object_per_text(fp32_bundle):
    result = bertvino("classify", "-m", str(fp32_bundle), "--json", *TEXTS)
    assert result.returncode == 0, result.stderr
    rows = [json.loads(line) for line in result.stdout.splitlines()]
    assert [row["text"] for row in rows] == TEXTS
    expected = Classifier(load_bundle(fp32_bundle)).predict(TEXTS)
    for row, prediction in zip(rows, expected):
        assert set(row) == {"text", "label", "probabilities"}
        assert row["label"] == prediction.label
        assert list(row["probabilities"]) == ["negative", "positive"]
        assert sum(row["probabilities"].values()) == pytest.approx(1.0, abs=1e-6)
        assert row["probabilities"] == pytest.approx(prediction.probabilities, abs=1e-6)


def test_text_output_shows_label_probabilities_and_latency(fp32_bundle):
    result = bertvino("classify", "-m", str(fp32_bundle), TEXTS[0])
    assert result.returncode == 0, result.stderr
    line, = result.stdout.splitlines()
    assert line.split()[0] in ("negative", "positive") and " ms " in line and "positive 0." in line


def test_dash_reads_one_text_per_line_from_stdin(fp32_bundle):
    result = bertvino("classify", "-m", str(fp32_bundle), "--json", "-", stdin="\n".join(TEXTS) + "\n")
    assert result.returncode == 0, result.stderr
    assert [json.loads(line)["text"] for line in result.stdout.splitlines()] == TEXTS


def test_every_input_gets_one_answer_in_order_empty_ones_an_error_line(fp32_bundle, capsys):
    assert main(["classify", "-m", str(fp32_bundle), TEXTS[0], "", TEXTS[1], " \t"]) == 3
    out, err = capsys.readouterr()
    lines = out.splitlines()
    assert len(lines) == 4 and lines[1].split() == ["error", "empty", "text"]
    assert lines[3].split() == ["error", "only", "whitespace"]
    assert lines[0].endswith(TEXTS[0]) and lines[2].endswith(TEXTS[1])
    path_line, summary = err.strip().splitlines()  # which path ran, then the summary
    assert path_line.startswith("bertvino classify: f32 (model.xml): ")
    assert summary == "bertvino classify: 2 of 4 inputs could not be classified (see the error lines)"


def test_stdin_blank_and_non_utf8_lines_keep_their_place(fp32_bundle):
    stdin = b"\n".join([TEXTS[0].encode(), b"", b"caf\xe9 au lait", TEXTS[1].encode()]) + b"\n"
    result = subprocess.run([sys.executable, "-m", "bertvino", "classify", "-m", str(fp32_bundle), "--json", "-"],
                            input=stdin, capture_output=True, timeout=300)
    assert result.returncode == 3, result.stderr
    rows = [json.loads(line) for line in result.stdout.decode().splitlines()]
    assert [row.get("text") for row in rows] == [TEXTS[0], "", "caf\\xe9 au lait", TEXTS[1]]
    assert [row.get("error") for row in rows] == [None, "empty text", "not UTF-8 (byte 4)", None]
    assert "label" in rows[0] and "label" in rows[3]


def test_no_input_classifiable_is_exit_1(fp32_bundle, capsys):
    assert main(["classify", "-m", str(fp32_bundle), "--json", "", "  "]) == 1
    out, err = capsys.readouterr()
    assert [json.loads(line)["error"] for line in out.splitlines()] == ["empty text", "only whitespace"]
    assert "none of the 2 inputs could be classified" in err


def test_control_characters_are_never_echoed_raw(fp32_bundle, capsys):
    text = "good \x1b[2J film \x9b\u202e end"
    assert main(["classify", "-m", str(fp32_bundle), text]) == 0
    assert main(["classify", "-m", str(fp32_bundle), "--json", text]) == 0
    plain, json_line = capsys.readouterr().out.splitlines()
    for line in (plain, json_line):
        assert not any(ch in line for ch in "\x1b\x9b\u202e"), line
    assert "\\u001b[2J" in plain
    assert json.loads(json_line)["text"] == text


def test_classify_never_imports_tensorflow(fp32_bundle):
    code = ("import sys; from bertvino.cli import main; "
            f"code = main(['classify', '-m', {str(fp32_bundle)!r}, 'a good movie']); "
            "assert code == 0; "
            "assert 'tensorflow' not in sys.modules, 'tensorflow was imported'; print('clean')")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().endswith("clean")


def test_importing_bertvino_and_its_runtime_never_imports_tensorflow():
    code = ("import sys, bertvino, bertvino.cli, bertvino.core.bundle, bertvino.infer.classifier, bertvino.convert.ir, "
            "bertvino.models, bertvino.core.reviews, bertvino.core.tokenization; "
            "assert 'tensorflow' not in sys.modules; print('clean')")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0 and result.stdout.strip() == "clean", result.stderr


def test_batched_predictions_equal_one_by_one(fp32_bundle):
    """Padding a short text to a long one's length must not change its probabilities."""
    classifier = Classifier(load_bundle(fp32_bundle))
    together = classifier.predict(TEXTS)
    for text, prediction in zip(TEXTS, together):
        alone = classifier.predict([text])[0]
        assert alone.label == prediction.label
        np.testing.assert_allclose(list(alone.probabilities.values()), list(prediction.probabilities.values()),
                                   atol=1e-5)


def test_an_unknown_device_lists_the_available_ones(fp32_bundle, capsys):
    assert main(["classify", "-m", str(fp32_bundle), "-d", "TPU", "a good movie"]) == 1
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "'TPU'" in err and "CPU" in err and "AUTO" in err


def test_auto_device_works(fp32_bundle, capsys):
    assert main(["classify", "-m", str(fp32_bundle), "-d", "AUTO", "--json", "a good movie"]) == 0
    assert json.loads(capsys.readouterr().out)["label"] in ("negative", "positive")


def test_without_a_bundled_default_model_the_error_says_what_to_do(capsys, monkeypatch, tmp_path):
    import bertvino.models
    monkeypatch.setattr(bertvino.models, "MODELS_DIR", tmp_path)
    assert main(["classify", "a good movie"]) == 1
    assert "pass -m" in capsys.readouterr().err
