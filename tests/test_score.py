"""`bertvino score`: rows, metrics, inputs of every kind, faults, and resuming after a kill."""

import csv
import json
import os
import signal
import subprocess
import sys
import tarfile
import time

import numpy as np
import pytest

from bertvino.core.bundle import load_bundle
from bertvino.cli import main
from bertvino.infer.classifier import Classifier
from bertvino.core.reviews import read_reviews

import checkpoints  # tests/checkpoints.py
from slowed import SLOW_CLI  # tests/slowed.py

# `bertvino score` in its own process with each batch's start slowed by 2 ms: a run of 3,000 one-review batches then
# lasts over 6 s on any machine, so a signal sent once rows are on disk lands mid-run (on a quiet machine the tiny
# model scored all 3,000 in 1.7 s and finished before the signal did)
SLOW_SCORE = [sys.executable, "-c", SLOW_CLI, "unused", "0.002", "score"]

COLUMNS = ["source", "label", "p_negative", "p_positive", "gold"]


def read_csv(path):
    with open(path, newline="", encoding="utf-8") as file:
        return list(csv.DictReader(file))


def test_rows_and_metrics_for_a_labelled_folder(fp32_bundle, reviews_dir, tmp_path, capsys):
    out, metrics = tmp_path / "out.csv", tmp_path / "metrics.json"
    code = main(["score", str(reviews_dir), "-m", str(fp32_bundle), "-o", str(out), "--metrics-json",
                 str(metrics), "--batch-size", "8", "--no-progress"])
    assert code == 0
    rows = read_csv(out)
    assert list(rows[0]) == COLUMNS
    sources = sorted(review.source for review in read_reviews(reviews_dir))
    assert sorted(row["source"] for row in rows) == sources
    report = json.loads(metrics.read_text())
    assert report["scored"] == len(sources) and report["skipped"] == [] and report["reviews_per_s"] > 0
    assert 50 < report["peak_rss_mb"] < 100_000  # this process's, from getrusage
    correct = sum(row["label"] == row["gold"] for row in rows)
    assert report["metrics"]["accuracy"] == pytest.approx(correct / len(rows), abs=1e-4)
    matrix = np.array(report["metrics"]["confusion_matrix"]["rows_gold_columns_predicted"])
    assert matrix.sum() == len(rows) and np.trace(matrix) == correct
    for label, row in report["metrics"]["per_class"].items():
        assert row["support"] == sum(r["gold"] == label for r in rows)
    assert "accuracy" in capsys.readouterr().err


def test_bucketed_batches_give_the_probabilities_of_one_by_one(fp32_bundle, reviews_dir, tmp_path):
    out = tmp_path / "out.jsonl"
    assert main(["score", str(reviews_dir), "-m", str(fp32_bundle), "-o", str(out), "--batch-size", "16",
                 "--no-progress"]) == 0
    rows = {row["source"]: row for row in map(json.loads, out.read_text().splitlines())}
    classifier = Classifier(load_bundle(fp32_bundle))
    for review in read_reviews(reviews_dir):
        alone = classifier.predict([review.text])[0]
        row = rows[review.source]
        assert row["label"] == alone.label and row["gold"] == review.label
        np.testing.assert_allclose([row["p_negative"], row["p_positive"]], list(alone.probabilities.values()),
                                   atol=1e-5)


def test_csv_jsonl_and_tar_gz_inputs(fp32_bundle, reviews_dir, tmp_path):
    (tmp_path / "in.csv").write_text('id,review,sentiment\n1,"a good, great\nmovie",pos\n2,dull and bad,0\n')
    (tmp_path / "in.jsonl").write_text('{"text": "brilliant", "label": "positive"}\n\n{"text": "awful"}\n')
    with tarfile.open(tmp_path / "reviews.tar.gz", "w:gz") as archive:
        archive.add(reviews_dir, arcname="aclImdb/test")
    out = tmp_path / "out.csv"
    assert main(["score", str(tmp_path / "in.csv"), str(tmp_path / "in.jsonl"), str(tmp_path / "reviews.tar.gz"),
                 "-m", str(fp32_bundle), "-o", str(out), "--no-progress"]) == 0
    rows = {row["source"]: row for row in read_csv(out)}
    assert rows[f"{tmp_path / 'in.csv'}:1"]["gold"] == "positive"
    assert rows[f"{tmp_path / 'in.csv'}:2"]["gold"] == "negative"
    assert rows[f"{tmp_path / 'in.jsonl'}:1"]["gold"] == "positive"
    assert rows[f"{tmp_path / 'in.jsonl'}:3"]["gold"] == ""
    in_archive = [s for s in rows if s.startswith(f"{tmp_path / 'reviews.tar.gz'}/aclImdb/test/")]
    assert len(in_archive) == len(list(read_reviews(reviews_dir))) == len(rows) - 4


def test_bad_inputs_are_reported_skipped_and_set_the_exit_status(fp32_bundle, tmp_path, capsys):
    (tmp_path / "pos").mkdir()
    (tmp_path / "pos" / "good.txt").write_text("a great movie")
    (tmp_path / "pos" / "latin1.txt").write_bytes("a caf\xe9 movie".encode("latin-1"))
    (tmp_path / "pos" / "empty.txt").write_text("  \n")
    (tmp_path / "odd.csv").write_text("text,label\nfine,positive\nhmm,maybe\nafter,negative\nlast,pos\n")
    out = tmp_path / "out.csv"
    code = main(["score", str(tmp_path / "pos"), str(tmp_path / "odd.csv"), "-m", str(fp32_bundle), "-o",
                 str(out), "--no-progress"])
    err = capsys.readouterr().err
    assert code == 3
    assert f"skipped {tmp_path / 'pos' / 'latin1.txt'}: not UTF-8" in err
    assert f"skipped {tmp_path / 'pos' / 'empty.txt'}: empty review" in err
    assert "Scored 5 reviews" in err and "skipped 2 inputs" in err
    rows = read_csv(out)
    assert sorted(row["source"] for row in rows) == sorted(
        [str(tmp_path / "pos" / "good.txt"), *(f"{tmp_path / 'odd.csv'}:{row}" for row in (1, 2, 3, 4))])
    # A gold label the model does not have is scored and kept, and left out of the metrics (counted apart); `pos`
    # means the model's `positive`.
    assert sorted(row["gold"] for row in rows) == ["maybe", "negative", "positive", "positive", "positive"]
    assert "accuracy" in err and "on 4 of the 5 reviews with a gold label (1 have a gold label the model lacks" in err


def test_a_missing_path_fails_before_anything_is_scored(fp32_bundle, reviews_dir, tmp_path, capsys):
    out = tmp_path / "out.csv"
    code = main(["score", str(reviews_dir), str(tmp_path / "typo.csv"), "-m", str(fp32_bundle), "-o", str(out)])
    captured = capsys.readouterr()
    assert code == 1 and captured.out == ""
    assert captured.err.strip() == f"bertvino score: error: {tmp_path / 'typo.csv'}: no such file or directory"
    assert not out.exists()
    assert main(["score", str(tmp_path / "typo.csv"), "-m", str(fp32_bundle), "-o", str(out), "--ray"]) == 1
    assert "typo.csv: no such file or directory" in capsys.readouterr().err and not out.exists()


def test_progress_has_a_total_where_it_is_cheap_to_count(fp32_bundle, reviews_dir, tmp_path, capsys):
    total = len(list(read_reviews(reviews_dir)))
    assert main(["score", str(reviews_dir), "-m", str(fp32_bundle), "-o", str(tmp_path / "a.csv")]) == 0
    assert f"{total}/{total} [" in capsys.readouterr().err.replace("\r", "\n")
    (tmp_path / "one.csv").write_text("text\na good film\n")
    assert main(["score", str(tmp_path / "one.csv"), "-m", str(fp32_bundle), "-o", str(tmp_path / "b.csv")]) == 0
    err = capsys.readouterr().err
    assert "score: 1 reviews [" in err.replace("\r", "\n") and "Scored 1 review in" in err


def test_an_existing_output_is_never_overwritten_by_accident(fp32_bundle, reviews_dir, tmp_path, capsys):
    out = tmp_path / "out.csv"
    out.write_text("precious\n")
    assert main(["score", str(reviews_dir), "-m", str(fp32_bundle), "-o", str(out), "--no-progress"]) == 1
    assert "--resume" in capsys.readouterr().err and out.read_text() == "precious\n"
    assert main(["score", str(reviews_dir), "-m", str(fp32_bundle), "-o", str(out), "--overwrite",
                 "--no-progress"]) == 0
    assert list(read_csv(out)[0]) == COLUMNS


@pytest.mark.parametrize("suffix", [".csv", ".jsonl"])
def test_resume_after_a_kill_with_a_torn_last_line(fp32_bundle, reviews_dir, tmp_path, suffix):
    out = tmp_path / f"out{suffix}"
    assert main(["score", str(reviews_dir), "-m", str(fp32_bundle), "-o", str(out), "--no-progress"]) == 0
    complete = out.read_text().splitlines(keepends=True)
    # As if killed: only the first 10 rows made it, and the 11th was cut mid-line.
    kept = complete[:11] if suffix == ".csv" else complete[:10]
    torn = complete[len(kept)][:15]
    out.write_text("".join(kept) + torn)
    assert main(["score", str(reviews_dir), "-m", str(fp32_bundle), "-o", str(out), "--resume",
                 "--no-progress"]) == 0
    text = out.read_text()
    rows = read_csv(out) if suffix == ".csv" else [json.loads(line) for line in text.splitlines()]
    assert all(float(row["p_negative"]) + float(row["p_positive"]) == pytest.approx(1, abs=1e-5) for row in rows)
    sources = [row["source"] for row in rows]
    assert sorted(sources) == sorted(review.source for review in read_reviews(reviews_dir))
    assert len(set(sources)) == len(sources)


def test_resume_refuses_a_file_written_for_other_labels(fp32_bundle, reviews_dir, tmp_path, capsys):
    out = tmp_path / "out.csv"
    out.write_text("source,label,p_bad,p_good,gold\n")
    assert main(["score", str(reviews_dir), "-m", str(fp32_bundle), "-o", str(out), "--resume",
                 "--no-progress"]) == 1
    assert "cannot resume it with another model" in capsys.readouterr().err


def test_sigkill_then_resume_scores_every_review_exactly_once(fp32_bundle, tmp_path):
    """A real SIGKILL in the middle of a run, then --resume: every review once, none lost, none twice."""
    many = checkpoints.make_many_reviews(tmp_path)
    out = tmp_path / "out.csv"
    command = [*SLOW_SCORE, str(many), "-m", str(fp32_bundle), "-o", str(out), "--batch-size", "1", "--no-progress"]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and process.poll() is None:
        if out.exists() and out.stat().st_size > 2000:
            os.kill(process.pid, signal.SIGKILL)
            break
        time.sleep(0.01)
    process.wait(timeout=60)
    assert process.returncode == -signal.SIGKILL, "the run ended before it could be killed"
    partial = len(read_csv(out))
    assert 0 < partial < 3000
    assert subprocess.run(command + ["--resume"], capture_output=True, timeout=300).returncode == 0
    sources = [row["source"] for row in read_csv(out)]
    assert len(sources) == len(set(sources)) == 3000


def test_when_every_input_is_skipped_it_is_an_error(fp32_bundle, tmp_path, capsys):
    (tmp_path / "empty.csv").write_text("text\n \n")
    code = main(["score", str(tmp_path / "empty.csv"), "-m", str(fp32_bundle), "-o", str(tmp_path / "out.csv"),
                 "--no-progress"])
    err = capsys.readouterr().err
    assert code == 1 and f"skipped {tmp_path / 'empty.csv'}:1: empty review" in err
    assert "error: nothing was scored" in err


@pytest.mark.parametrize("inputs", ["no text column", "empty folder"])
def test_a_run_that_fails_before_its_first_row_leaves_no_output(fp32_bundle, tmp_path, capsys, inputs):
    """A header-only file would refuse the corrected re-run ("exists: pass --resume ...")."""
    if inputs == "no text column":
        bad = tmp_path / "reviews.csv"
        bad.write_text("id,body\n1,a fine film\n")
    else:
        bad = tmp_path / "empty"
        bad.mkdir()
    out = tmp_path / "out.csv"
    assert main(["score", str(bad), "-m", str(fp32_bundle), "-o", str(out), "--no-progress"]) == 1
    assert not out.exists()
    good = tmp_path / "good.csv"
    good.write_text("text,label\na fine film,positive\n")
    assert main(["score", str(good), "-m", str(fp32_bundle), "-o", str(out), "--no-progress"]) == 0
    rows = read_csv(out)
    assert len(rows) == 1 and rows[0]["source"].startswith(f"{good}:")


def test_a_gold_label_the_model_lacks_is_counted_in_the_summary(fp32_bundle, tmp_path, capsys):
    data = tmp_path / "three.csv"
    data.write_text("text,label\n" + "".join(f"review {i},{label}\n" for i, label in
                                             enumerate(["positive", "negative", "mixed"] * 3)))
    assert main(["score", str(data), "-m", str(fp32_bundle), "-o", str(tmp_path / "out.csv"), "--no-progress"]) == 0
    err = capsys.readouterr().err
    assert "on 6 of the 9 reviews with a gold label (3 have a gold label the model lacks, left out of the " \
           "metrics: mixed (3))" in err
    data.write_text("text,label\nreview,mixed\n")
    assert main(["score", str(data), "-m", str(fp32_bundle), "-o", str(tmp_path / "two.csv"), "--no-progress"]) == 0
    assert "no accuracy: all 1 reviews with a gold label have one the model lacks: mixed (1)" in \
        capsys.readouterr().err


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_an_interrupted_run_says_how_many_rows_it_kept_and_how_to_go_on(fp32_bundle, tmp_path, signum):
    many = checkpoints.make_many_reviews(tmp_path)
    out = tmp_path / "out.csv"
    command = [*SLOW_SCORE, str(many), "-m", str(fp32_bundle), "-o", str(out), "--batch-size", "1", "--no-progress"]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and process.poll() is None:
        if out.exists() and out.stat().st_size > 2000:
            process.send_signal(signum)
            break
        time.sleep(0.01)
    err = process.communicate(timeout=60)[1]
    assert process.returncode == 128 + signum, err
    kept = len(read_csv(out))
    assert 0 < kept < 3000
    how = "interrupted" if signum == signal.SIGINT else "stopped by SIGTERM"
    assert err.strip().splitlines()[-1] == (f"bertvino score: {how}: {kept} rows kept in {out}; run the same "
                                            "command with --resume to score the rest")
