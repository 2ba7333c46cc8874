"""samples/: its data reads as documented, and its two scripts run against the bundled model."""

import re
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from bertvino.core.reviews import read_reviews

SAMPLES = Path(__file__).resolve().parents[1] / "samples"
SENTENCES = ["That movie was absolutely awful", "The acting was a bit lacking", "The film was creative and surprising",
             "Absolutely fantastic!"]


def test_the_data_reads_as_its_readme_says():
    assert (SAMPLES / "sentences.txt").read_text().splitlines() == SENTENCES
    train = list(read_reviews(SAMPLES / "aclImdb", split="train"))
    test = list(read_reviews(SAMPLES / "aclImdb", split="test"))
    assert len(train) == 6 and len(test) == 4
    assert {r.label for r in train + test} == {"positive", "negative"}
    assert all(re.fullmatch(r"\d+_\d+\.txt", Path(r.source).name) for r in train + test)
    assert {r.label for r in read_reviews(SAMPLES / "reviews.csv")} == {"positive", "negative"}
    assert {r.label for r in read_reviews(SAMPLES / "reviews-3way.jsonl")} == {"negative", "mixed", "positive"}


def predictions(output: str) -> list:
    """(label, sentence) of each line a sample script prints for a sentence."""
    lines = [line for line in output.splitlines() if line.endswith(tuple(SENTENCES))]
    return [(line.split()[0], next(s for s in SENTENCES if line.endswith(s))) for line in lines]


def test_the_python_api_sample_classifies_the_four_sentences():
    result = subprocess.run([sys.executable, str(SAMPLES / "classify_with_python.py")], capture_output=True,
                            text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    found = predictions(result.stdout)
    assert [sentence for _, sentence in found] == SENTENCES
    assert found[0][0] == "negative" and found[3][0] == "positive"  # the bundled IMDB model on the clear cases


def test_the_http_client_sample_against_bertvino_serve(tmp_path):
    """`bertvino serve & python samples/classify_over_http.py`, as samples/README.md says: the client starts before
    the port is open and waits for readiness."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    listener.close()
    log = tmp_path / "serve.log"
    with open(log, "w") as stderr:  # the bundled model, on a free loopback port
        server = subprocess.Popen([sys.executable, "-m", "bertvino", "serve", "--port", str(port)],
                                  stdout=subprocess.DEVNULL, stderr=stderr)
    try:
        result = subprocess.run([sys.executable, str(SAMPLES / "classify_over_http.py"), "--port", str(port),
                                 "--wait", "240"], capture_output=True, text=True, timeout=300)
        assert result.returncode == 0, result.stderr + log.read_text()
        found = predictions(result.stdout)
        assert [sentence for _, sentence in found] == SENTENCES
        assert found[0][0] == "negative" and found[3][0] == "positive"
    finally:
        server.send_signal(signal.SIGTERM)
        try:
            server.wait(timeout=60)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
    assert server.returncode == 0, log.read_text()


@pytest.mark.parametrize("script", ["classify_with_python.py", "classify_over_http.py"])
def test_the_scripts_explain_themselves(script):
    result = subprocess.run([sys.executable, str(SAMPLES / script), "--help"], capture_output=True, text=True,
                            timeout=60)
    assert result.returncode == 0 and "four sentences" in result.stdout


OUTPUT_FLAG = re.compile(r"(?:-o|--output|--output_dir|--metrics-json|--json|--markdown|--chart) ([\w./-]+)")


def test_what_the_documented_commands_write_in_the_clone_is_git_ignored():
    """Every relative output path a command in README.md, docs/ or samples/README.md names (the commands are run
    from the clone's root) is ignored by git; benchmarks/results/ is committed on purpose."""
    root = SAMPLES.parent
    if subprocess.run(["git", "-C", str(root), "rev-parse"], capture_output=True).returncode != 0:
        pytest.skip("not a git checkout")
    pages = [root / "README.md", SAMPLES / "README.md", *sorted((root / "docs").glob("*.md"))]
    outputs = {path for page in pages for path in OUTPUT_FLAG.findall(page.read_text(encoding="utf-8"))
               if not path.startswith(("/", "benchmarks/results/"))}
    assert {"rows.csv", "results.csv", "my-model", "runs/pass1"} <= outputs
    ignored = subprocess.run(["git", "-C", str(root), "check-ignore", "--no-index", *sorted(outputs)],
                             capture_output=True, text=True).stdout.split()
    assert sorted(outputs - set(ignored)) == []
