"""`bertvino score --ray` gives the rows of plain `score`: same labels, probabilities, skips, resume and metrics.

One local Ray with 2 CPUs serves the whole module (started once, shut down at the end); `score --ray` finds it
running and uses it, as it would in any process that had already called `ray.init`.
"""

import contextlib
import csv
import io
import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time

import numpy as np
import pytest

ray = pytest.importorskip("ray")
pq = pytest.importorskip("pyarrow.parquet")

from bertvino.core.bundle import load_bundle  # noqa: E402
from bertvino.cli import main  # noqa: E402
from bertvino.infer.classifier import Classifier  # noqa: E402
from bertvino.core.reviews import read_reviews  # noqa: E402

import checkpoints  # noqa: E402  (tests/checkpoints.py)


@pytest.fixture(scope="module", autouse=True)
def local_ray():
    ray.init(address="local", num_cpus=2, include_dashboard=False, logging_level="ERROR")
    yield
    ray.shutdown()


@pytest.fixture(scope="module")
def inputs(tmp_path_factory, reviews_dir):
    """The tiny labelled reviews, a folder with a file that is not UTF-8, and a CSV without a text column (a path
    that does not exist is an error before scoring starts, not a skip)."""
    root = tmp_path_factory.mktemp("ray-inputs")
    shutil.copytree(reviews_dir, root / "reviews")
    (root / "more" / "pos").mkdir(parents=True)
    (root / "more" / "pos" / "good.txt").write_text("a great movie, wonderful acting")
    (root / "more" / "pos" / "latin1.txt").write_bytes("a caf\xe9 movie".encode("latin-1"))
    (root / "no-text.csv").write_text("id,body\n1,a fine film\n")
    return [str(root / "reviews"), str(root / "more"), str(root / "no-text.csv")]


@pytest.fixture(scope="module")
def plain(inputs, fp32_bundle, tmp_path_factory):
    """Plain score's rows, stderr and metrics on `inputs`, the reference every Ray run is held to."""
    out = tmp_path_factory.mktemp("plain") / "out.csv"
    code, err = run_score(inputs, fp32_bundle, out)
    assert code == 3
    return {"rows": read_rows(out), "err": err, "metrics": json.loads(out.with_suffix(".json").read_text())}


def run_score(inputs, bundle, out, *extra):
    """(exit status, stderr) of `bertvino score`, writing `out` and its metrics beside it."""
    err = io.StringIO()
    with contextlib.redirect_stderr(err):
        code = main(["score", *inputs, "-m", str(bundle), "-o", str(out), "--batch-size", "4", "--no-progress",
                     "--metrics-json", str(out.with_suffix(".json")), *extra])
    return code, err.getvalue()


def read_rows(path):
    if path.suffix == ".csv":
        with open(path, newline="", encoding="utf-8") as file:
            return list(csv.DictReader(file))
    if path.suffix == ".jsonl":
        return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
    return pq.read_table(path).to_pylist()


def skipped_lines(err):
    return sorted(line for line in err.splitlines() if line.startswith("bertvino score: skipped "))


def assert_same_rows(rows, expected):
    """Every source exactly once, with plain score's label, gold and probabilities (within 1e-5)."""
    sources = [row["source"] for row in rows]
    assert len(sources) == len(set(sources)), "a review was written twice"
    by_source = {row["source"]: row for row in rows}
    assert sorted(by_source) == sorted(row["source"] for row in expected)
    for want in expected:
        got = by_source[want["source"]]
        assert got["label"] == want["label"] and (got["gold"] or "") == want["gold"]
        np.testing.assert_allclose([float(got["p_negative"]), float(got["p_positive"])],
                                   [float(want["p_negative"]), float(want["p_positive"])], atol=1e-5)


def test_ray_rows_skips_metrics_and_exit_status_are_plain_scores(inputs, fp32_bundle, plain, tmp_path):
    out = tmp_path / "out.jsonl"
    code, err = run_score(inputs, fp32_bundle, out, "--ray", "--ray-block-rows", "8")
    assert code == 3
    assert_same_rows(read_rows(out), plain["rows"])
    assert skipped_lines(err) == skipped_lines(plain["err"]) and len(skipped_lines(err)) == 2
    assert "reaches the workers by its path" in err
    metrics = json.loads((tmp_path / "out.json").read_text())
    assert metrics["scored"] == len(plain["rows"]) and metrics["metrics"] == plain["metrics"]["metrics"]


def test_ray_resumes_a_killed_runs_file_with_the_bundle_shipped(inputs, fp32_bundle, plain, tmp_path):
    out = tmp_path / "out.csv"
    lines = ["source,label,p_negative,p_positive,gold\n"]
    for row in plain["rows"][:10]:
        lines.append(",".join(row.values()) + "\n")
    out.write_text("".join(lines) + "/torn/row,nega")  # killed mid-line: the torn row is scored again
    code, err = run_score(inputs, fp32_bundle, out, "--ray", "--resume", "--ray-bundle", "ship")
    assert code == 3, err
    assert "through Ray's object store (as --ray-bundle ship asks)" in err  # not "not every node can read it"
    assert_same_rows(read_rows(out), plain["rows"])
    assert json.loads((tmp_path / "out.json").read_text())["already_done"] == 10


def test_parquet_parts_are_whole_and_resume_exactly_once(inputs, fp32_bundle, plain, tmp_path):
    out = tmp_path / "results.parquet"
    code, _ = run_score(inputs, fp32_bundle, out, "--ray", "--ray-block-rows", "16")
    assert code == 3
    parts = sorted(out.glob("part-*.parquet"))
    assert len(parts) >= 3 and not list(out.glob(".*"))
    assert_same_rows(read_rows(out), plain["rows"])
    code, err = run_score(inputs, fp32_bundle, out, "--ray")
    assert code == 1 and "--resume" in err  # existing results are never overwritten by accident
    # As if killed: the last part never got its rename, another was lost.
    parts[0].rename(out / f".{parts[0].name}.tmp")
    code, _ = run_score(inputs, fp32_bundle, out, "--ray", "--resume")
    assert code == 3
    assert not list(out.glob(".*"))
    assert_same_rows(read_rows(out), plain["rows"])


def test_a_killed_actor_is_replaced_and_every_review_is_written_once(fp32_bundle, tmp_path):
    many = checkpoints.make_many_reviews(tmp_path)
    out, result = tmp_path / "out.csv", {}
    run = threading.Thread(target=lambda: result.update(code=run_score(
        [str(many)], fp32_bundle, out, "--ray", "--batch-size", "1", "--ray-block-rows", "100")[0]))
    run.start()
    killed = None
    while run.is_alive() and killed is None:
        actors = classifying_actors()
        if actors and out.exists() and out.read_text().count("\n") > 200:
            os.kill(actors[0], signal.SIGKILL)
            killed = out.read_text().count("\n") - 1
        time.sleep(0.05)
    run.join(timeout=300)
    assert killed is not None and killed < 3000, "the run ended before an actor could be killed"
    assert result["code"] == 0
    sources = [row["source"] for row in read_rows(out)]
    assert len(sources) == len(set(sources)) == 3000


def classifying_actors() -> list:
    """PIDs of this test process's Ray's classifying actors: children of the raylet this process started (other
    Rays on the machine are left alone)."""
    def children(pid):
        found = []
        for entry in os.listdir("/proc"):
            try:
                stat = open(f"/proc/{entry}/stat").read()
                if entry.isdigit() and int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                    found.append(int(entry))
            except (OSError, ValueError, IndexError):
                continue
        return found

    def command(pid):
        try:
            return open(f"/proc/{pid}/cmdline", "rb").read().decode(errors="replace")
        except OSError:
            return ""

    raylets = [pid for pid in children(os.getpid()) if "raylet" in command(pid)]
    return [pid for raylet in raylets for pid in children(raylet) if "ClassifyBlocks" in command(pid)]


def test_classify_dataset_leaves_empty_texts_unlabelled_and_keeps_order_when_asked(fp32_bundle, reviews_dir):
    import bertvino.infer.ray_scoring
    texts = ["a great film", "", "   ", None, "a dull film"] * 8
    context = ray.data.DataContext.get_current()
    context.execution_options.preserve_order = True  # as classify_dataset's docstring says, for input order
    try:
        ds = ray.data.from_items([{"id": i, "text": text} for i, text in enumerate(texts)], override_num_blocks=4)
        rows = bertvino.infer.ray_scoring.classify_dataset(ds, model=str(fp32_bundle)).take_all()
    finally:
        context.execution_options.preserve_order = False
    assert [row["id"] for row in rows] == list(range(len(texts)))
    for row in rows:
        empty = row["text"] is None or not row["text"].strip()
        assert (row["label"] is None) == empty, row  # classify refuses these; the dataset leaves them unlabelled
        assert np.isnan(row["p_positive"]) == empty


def test_classify_dataset_adds_labels_and_keeps_columns(fp32_bundle, reviews_dir):
    import bertvino.infer.ray_scoring
    reviews = list(read_reviews(reviews_dir))[:12]
    ds = ray.data.from_items([{"id": i, "review": review.text} for i, review in enumerate(reviews)])
    rows = sorted(bertvino.infer.ray_scoring.classify_dataset(ds, model=str(fp32_bundle), text_column="review").take_all(),
                  key=lambda row: row["id"])
    classifier = Classifier(load_bundle(fp32_bundle))
    assert [row["review"] for row in rows] == [review.text for review in reviews]
    for row, alone in zip(rows, classifier.predict([review.text for review in reviews])):
        assert row["label"] == alone.label
        np.testing.assert_allclose([row["p_negative"], row["p_positive"]], list(alone.probabilities.values()),
                                   atol=1e-5)


def test_ray_before_the_paths_starts_a_local_ray_and_an_address_is_still_taken(fp32_bundle, reviews_dir, tmp_path,
                                                                                capsys):
    out = tmp_path / "o.csv"
    code = main(["score", "--ray", str(reviews_dir), "-o", str(out), "-m", str(fp32_bundle), "--no-progress"])
    assert code == 0, capsys.readouterr().err
    assert len(read_rows(out)) == len(list(read_reviews(reviews_dir)))
    from bertvino.cli import _ray_alone
    for address in ("auto", "ray://head:10001", "10.0.0.1:6379", "head-node.local:6379"):
        assert _ray_alone(["score", "--ray", address, "x/"]) == ["score", "--ray", address, "x/"]
    assert _ray_alone(["score", "--ray", "reviews/", "-o", "x"]) == ["score", "--ray=local", "reviews/", "-o", "x"]
    code = main(["score", str(reviews_dir), "--ray=nowhere", "-m", str(fp32_bundle), "-o", str(tmp_path / "p.csv")])
    err = capsys.readouterr().err
    assert code == 1 and "expected auto, ray://HOST:PORT or HOST:PORT" in err and "Traceback" not in err


def test_a_successful_run_prints_none_of_rays_own_warnings(fp32_bundle, reviews_dir, tmp_path):
    """A fresh process that starts its own local Ray: stderr holds bertvino's lines and nothing of Ray's."""
    result = subprocess.run([sys.executable, "-m", "bertvino", "score", "--ray", str(reviews_dir), "-m",
                             str(fp32_bundle), "-o", str(tmp_path / "o.csv"), "--no-progress", "--ray-cpus", "2"],
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    lines = result.stderr.splitlines()
    assert lines[0].startswith("bertvino score: bundle ") and lines[1].startswith("Scored ")
    assert lines[2].startswith("accuracy ") and all(line.startswith(("  ", "calibration: ")) for line in lines[3:]), \
        result.stderr
    for noise in ("Token authentication", "UserWarning", "core_worker.cc", "WARNING", "(raylet)"):
        assert noise not in result.stderr


def test_blocks_are_sized_so_every_actor_gets_work(fp32_bundle, tmp_path):
    from bertvino.infer.ray_scoring import RayOptions, block_rows, ray_score
    many = checkpoints.make_many_reviews(tmp_path, count=400)
    blocks = []
    summary = ray_score([many], fp32_bundle, RayOptions(actors=2, threads=1), output=tmp_path / "o.csv",
                        progress=False, say=lambda line: None, on_block=blocks.append)
    assert summary.scored == sum(blocks) == 400
    assert len(blocks) >= 4 and max(blocks) <= 100, blocks  # at least two blocks per actor, never one of 512
    assert block_rows(None, 2, 32, 512) == 512  # CSV/JSONL: not counted first, a window of score
    assert block_rows(100_000, 4, 32, 512) == 512 and block_rows(10, 4, 32, 512) == 32


def test_plain_score_never_imports_ray(fp32_bundle, reviews_dir, tmp_path):
    code = ("import sys; from bertvino.cli import main; "
            f"assert main(['score', {str(reviews_dir)!r}, '-m', {str(fp32_bundle)!r}, '-o', "
            f"{str(tmp_path / 'o.csv')!r}, '--no-progress']) == 0; "
            "assert 'ray' not in sys.modules and 'pyarrow' not in sys.modules, 'score imported Ray'")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr


def test_a_stopped_ray_run_says_how_many_rows_it_kept(fp32_bundle, tmp_path):
    """SIGTERM stops score --ray as it stops score (Ray's own handler would end the driver with a stack dump)."""
    many = checkpoints.make_many_reviews(tmp_path)
    out = tmp_path / "out.csv"
    process = subprocess.Popen([sys.executable, "-m", "bertvino", "score", str(many), "-m", str(fp32_bundle), "-o",
                                str(out), "--no-progress", "--ray", "--ray-cpus", "2", "--ray-block-rows", "32"],
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 240
    while not (out.exists() and out.read_text().count("\n") > 40):
        assert process.poll() is None and time.monotonic() < deadline, process.stderr.read()
        time.sleep(0.1)
    process.send_signal(signal.SIGTERM)
    err = process.communicate(timeout=120)[1]
    kept = len(read_rows(out))
    assert process.returncode == 143 and 0 < kept < 3000, err
    assert err.strip().splitlines()[-1] == (f"bertvino score: stopped by SIGTERM: {kept} rows kept in {out}; run "
                                            "the same command with --resume to score the rest")
