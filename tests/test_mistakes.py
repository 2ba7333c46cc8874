"""Every user mistake, one row each, across every command: its exit status (1 for a mistake, 2 for usage), exactly
one line on stderr naming the thing that is wrong (the file or the flag), and no traceback.

To add a mistake, add a row to MISTAKES: a name, the exit status it must have, the command line (a function of
`Paths`, the files a row can point at), and what the error line must name. Most rows run in this process
(`bertvino.cli.main`), where a traceback would be an exception that fails the test; a row with `blocked` runs in a
fresh process in which that package cannot be imported, as on a machine without the extra that provides it, and a
row with `disk_bytes` in a fresh process whose files cannot grow past that many bytes, as on a disk that fills up.
"""

import dataclasses
import io
import json
import resource
import shutil
import socket
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest

from bertvino.cli import main


MISTAKE, USAGE = 1, 2  # the exit statuses the README promises: a mistake in what a command is given, or in its usage


@dataclasses.dataclass(frozen=True)
class Mistake:
    name: str
    status: int  # MISTAKE (the command found something wrong) or USAGE (the flags' parser refused them)
    argv: object  # Paths -> the command line after `bertvino`
    names: object  # Paths -> what the error line must contain (a path or a flag)
    blocked: str | None = None  # a package made unimportable for this row (a missing extra)
    disk_bytes: int | None = None  # files may not grow past this (a full disk)
    stdin: bytes = b""  # what the command reads on stdin

    def __str__(self):
        return self.name


def row(name, status, argv, names, blocked=None, disk_bytes=None, stdin=b""):
    return Mistake(name, status, argv, names if callable(names) else (lambda p, names=names: names), blocked,
                   disk_bytes, stdin)


def damaged_bundle(fp32_bundle, directory: Path, how: str) -> Path:
    """A copy of the test bundle whose bundle.json is damaged `how`."""
    bundle = Path(shutil.copytree(fp32_bundle, directory / how.replace(" ", "-")))
    meta_file = bundle / "bundle.json"
    meta = json.loads(meta_file.read_text())
    if how == "not json":
        meta_file.write_text('{"format_version": 1, "labels": ["neg"')
        return bundle
    if how == "unknown version":
        meta["format_version"] = 99
    elif how == "labels not matching the head":
        meta["labels"] = ["negative", "neutral", "positive"]
    elif how == "labels not a list":
        meta["labels"] = "negative,positive"
    elif how == "calibration with a negative temperature":
        meta["calibration"] = {"method": "temperature", "parameters": {"temperature": -2}}
    elif how == "long_texts windows wider than the model":
        meta["long_texts"] = "windows:500"
    meta_file.write_text(json.dumps(meta))
    return bundle


@pytest.fixture(scope="module")
def paths(tmp_path_factory, fp32_bundle, frozen_bundle, finetuned_checkpoint, pretrained_checkpoint, reviews_dir):
    """The files rows point at: good ones to get past the other checks, and the bad ones the rows are about."""
    tmp = tmp_path_factory.mktemp("mistakes")
    a_file = tmp / "notes.txt"
    a_file.write_text("not a directory\n")
    empty_dir = tmp / "empty"
    empty_dir.mkdir()
    existing_csv = tmp / "existing.csv"
    existing_csv.write_text("source,label\n")
    empty = tmp / "empty.txt"
    empty.write_text("\n")
    unnumbered = tmp / "unnumbered"  # a model repository whose only version is not a whole number
    (unnumbered / "alpha" / "latest").mkdir(parents=True)
    (unnumbered / "alpha" / "latest" / "model.xml").write_text("<net/>")
    colon = tmp / "colon"  # a model repository whose model's name cannot go in a URL
    (colon / "a:b" / "1").mkdir(parents=True)
    (colon / "a:b" / "1" / "model.xml").write_text("<net/>")
    pretrained = Path(pretrained_checkpoint)
    from test_import_hf import write_hf_dir  # a tiny Hugging Face BERT directory
    return SimpleNamespace(
        tmp=tmp, missing=tmp / "nowhere", a_file=a_file, empty=empty, empty_dir=empty_dir, existing_csv=existing_csv,
        hf_dir=write_hf_dir(tmp / "hf"), bundle=fp32_bundle, frozen=frozen_bundle,
        frozen_copy=Path(shutil.copytree(frozen_bundle, tmp / "frozen")), checkpoint=finetuned_checkpoint,
        reviews=reviews_dir, unnumbered=unnumbered, colon=colon,
        train_flags=["--data", str(reviews_dir), "--bert_config_file", str(pretrained.parent / "bert_config.json"),
                     "--vocab_file", str(pretrained.parent / "vocab.txt"), "--init_checkpoint", str(pretrained),
                     "--output_dir", str(tmp / "run"), "--max_seq_length", "32"],
        damaged={how: damaged_bundle(fp32_bundle, tmp, how)
                 for how in ("not json", "unknown version", "labels not matching the head", "labels not a list",
                             "calibration with a negative temperature", "long_texts windows wider than the model")})


def score(p, *more):
    return ["score", str(p.reviews), "-m", str(p.bundle), "--no-progress", *more]


def bench(p, *more):
    return ["bench", "-m", str(p.bundle), "--no-tensorflow", "--precision", "f32", "--lengths", "16",
            "--seconds", "0.1", *more]


MISTAKES = [
    # import-hf
    row("import-hf: no such directory", MISTAKE, lambda p: ["import-hf", str(p.missing), "-o", str(p.tmp / "o")],
        lambda p: p.missing),
    row("import-hf: a file, not a directory", MISTAKE, lambda p: ["import-hf", str(p.a_file), "-o", str(p.tmp / "o")],
        lambda p: p.a_file),
    row("import-hf: a directory without config.json", MISTAKE,
        lambda p: ["import-hf", str(p.empty_dir), "-o", str(p.tmp / "o")], lambda p: p.empty_dir),
    row("import-hf: --output inside a file", MISTAKE,
        lambda p: ["import-hf", str(p.hf_dir), "-o", str(p.a_file / "base")], lambda p: p.a_file),
    row("import-hf: without the train extra", MISTAKE,
        lambda p: ["import-hf", str(p.empty_dir), "-o", str(p.tmp / "o")],
        "pip install 'bertvino[train]'", blocked="tensorflow"),
    # import-bundle
    row("import-bundle: no such bundle", MISTAKE, lambda p: ["import-bundle", str(p.missing), "-o", str(p.tmp / "o")],
        lambda p: p.missing),
    row("import-bundle: a bundle without an IR", MISTAKE,
        lambda p: ["import-bundle", str(p.empty_dir), "-o", str(p.tmp / "o")], lambda p: p.empty_dir),
    # soup
    row("soup: no such checkpoint", MISTAKE,
        lambda p: ["soup", str(p.missing), str(p.missing), "-o", str(p.tmp / "o")], lambda p: p.missing),
    row("soup: one checkpoint, nothing to average", MISTAKE,
        lambda p: ["soup", str(p.empty_dir), "-o", str(p.tmp / "o")], "at least two"),
    row("soup: without the train extra", MISTAKE,
        lambda p: ["soup", str(p.empty_dir), str(p.empty_dir), "-o", str(p.tmp / "o")],
        "pip install 'bertvino[train]'", blocked="tensorflow"),
    # train
    row("train: --train_batch_size 0", USAGE, lambda p: ["train", *p.train_flags, "--train_batch_size", "0"],
        "--train_batch_size"),
    row("train: --learning_rate nan", USAGE, lambda p: ["train", *p.train_flags, "--learning_rate", "nan"],
        "--learning_rate"),
    row("train: negative --num_train_epochs", USAGE, lambda p: ["train", *p.train_flags, "--num_train_epochs", "-1"],
        "--num_train_epochs"),
    row("train: --warmup_proportion over 1", USAGE, lambda p: ["train", *p.train_flags, "--warmup_proportion", "1.5"],
        "--warmup_proportion"),
    row("train: --max_seq_length past the checkpoint's positions", MISTAKE,
        lambda p: ["train", *p.train_flags, "--max_seq_length", "4096"], "--max_seq_length 4096"),
    row("train: negative --seed", USAGE, lambda p: ["train", *p.train_flags, "--seed", "-1"], "--seed"),
    row("train: negative --snippets", USAGE, lambda p: ["train", *p.train_flags, "--snippets", "-2"], "--snippets"),
    row("train: --distill_threshold over 1", USAGE,
        lambda p: ["train", *p.train_flags, "--distill_threshold", "1.5"], "--distill_threshold"),
    row("train: negative --save_checkpoints_secs", USAGE,
        lambda p: ["train", *p.train_flags, "--save_checkpoints_secs", "-5"], "--save_checkpoints_secs"),
    row("train: --data that is not there", MISTAKE, lambda p: ["train", *p.train_flags, "--data", str(p.missing)],
        lambda p: p.missing),
    row("train: --bert_config_file is a directory", MISTAKE,
        lambda p: ["train", *p.train_flags, "--bert_config_file", str(p.empty_dir)], lambda p: p.empty_dir),
    row("train: --output_dir inside a file", MISTAKE,
        lambda p: ["train", *p.train_flags, "--output_dir", str(p.a_file / "run")], lambda p: p.a_file / "run"),
    row("train: without the train extra", MISTAKE, lambda p: ["train", *p.train_flags],
        "pip install 'bertvino[train]'", blocked="tensorflow"),
    # freeze
    row("freeze: no such checkpoint", MISTAKE,
        lambda p: ["freeze", "--checkpoint", str(p.missing), "-o", str(p.tmp / "b")], lambda p: p.missing),
    row("freeze: --max_seq_length 0", USAGE,
        lambda p: ["freeze", "--checkpoint", p.checkpoint, "-o", str(p.tmp / "b"), "--max_seq_length", "0"],
        "--max_seq_length"),
    row("freeze: -o inside a file", MISTAKE,
        lambda p: ["freeze", "--checkpoint", p.checkpoint, "-o", str(p.a_file / "bundle")], lambda p: p.a_file),
    row("freeze: the disk fills up", MISTAKE,
        lambda p: ["freeze", "--checkpoint", p.checkpoint, "-o", str(p.tmp / "full")],
        lambda p: p.tmp / "full", disk_bytes=20_000),
    row("freeze: without the train extra", MISTAKE,
        lambda p: ["freeze", "--checkpoint", p.checkpoint, "-o", str(p.tmp / "b")],
        "pip install 'bertvino[train]'", blocked="tensorflow"),
    # convert
    row("convert: no such bundle", MISTAKE, lambda p: ["convert", str(p.missing)], lambda p: p.missing),
    row("convert: --calibration-size 0", USAGE, lambda p: ["convert", str(p.frozen), "--calibration-size", "0"],
        "--calibration-size"),
    row("convert: bundle.json is not JSON", MISTAKE, lambda p: ["convert", str(p.damaged["not json"])],
        lambda p: p.damaged["not json"] / "bundle.json"),
    row("convert: the disk fills up", MISTAKE, lambda p: ["convert", str(p.frozen_copy)],
        lambda p: p.frozen_copy, disk_bytes=5_000),
    row("convert: --validate without --precision int8", MISTAKE,
        lambda p: ["convert", str(p.frozen), "--validate", str(p.reviews)], "--validate"),
    row("convert: int8 without the train extra", MISTAKE,
        lambda p: ["convert", str(p.frozen), "--precision", "int8", "--calibration", str(p.reviews)],
        "pip install 'bertvino[train]'", blocked="nncf"),
    # classify
    row("classify: no such bundle", MISTAKE, lambda p: ["classify", "-m", str(p.missing), "good"], lambda p: p.missing),
    row("classify: -m is a file", MISTAKE, lambda p: ["classify", "-m", str(p.a_file), "good"], lambda p: p.a_file),
    row("classify: bundle.json of an unknown format version", MISTAKE,
        lambda p: ["classify", "-m", str(p.damaged["unknown version"]), "good"],
        lambda p: p.damaged["unknown version"] / "bundle.json"),
    row("classify: labels in bundle.json that do not match the head", MISTAKE,
        lambda p: ["classify", "-m", str(p.damaged["labels not matching the head"]), "good"],
        lambda p: p.damaged["labels not matching the head"] / "bundle.json"),
    row("classify: bundle.json is not JSON", MISTAKE, lambda p: ["classify", "-m", str(p.damaged["not json"]), "good"],
        lambda p: p.damaged["not json"] / "bundle.json"),
    row("classify: binary bytes on stdin", MISTAKE,
        lambda p: ["classify", "-m", str(p.bundle), "-"],
        "could not be classified", stdin=b"\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01\x01\x00\x00\x01"),  # a JPEG's start
    row("classify: an unknown device", MISTAKE, lambda p: ["classify", "-m", str(p.bundle), "-d", "TPU", "good"],
        "'TPU'"),
    row("classify: an unknown --inference-precision", USAGE,
        lambda p: ["classify", "-m", str(p.bundle), "--inference-precision", "fp8", "good"], "--inference-precision"),
    row("classify: an --explain-method that does not exist", USAGE,
        lambda p: ["classify", "-m", str(p.bundle), "--explain", "--explain-method", "lime", "good"],
        "--explain-method"),
    # score
    row("score: --explain with --ray", MISTAKE, lambda p: score(p, "--explain", "--ray"), "--explain"),
    row("score: --batch-size 0", USAGE, lambda p: score(p, "--batch-size", "0"), "--batch-size"),
    row("score: negative --batch-size", USAGE, lambda p: score(p, "--batch-size", "-3"), "--batch-size"),
    row("score: --batch-size nan", USAGE, lambda p: score(p, "--batch-size", "nan"), "--batch-size"),
    row("score: a path that is not there", MISTAKE, lambda p: ["score", str(p.missing), "-m", str(p.bundle)],
        lambda p: p.missing),
    row("score: -o is a directory", MISTAKE, lambda p: score(p, "-o", str(p.empty_dir)), lambda p: p.empty_dir),
    row("score: -o inside a file", MISTAKE, lambda p: score(p, "-o", str(p.a_file / "rows.csv")),
        lambda p: p.a_file / "rows.csv"),
    row("score: -o where nothing can be created", MISTAKE, lambda p: score(p, "-o", "/proc/bertvino-rows.csv"),
        "/proc/bertvino-rows.csv"),
    row("score: -o exists, without --resume or --overwrite", MISTAKE, lambda p: score(p, "-o", str(p.existing_csv)),
        lambda p: p.existing_csv),
    row("score: -o of an unknown format", MISTAKE, lambda p: score(p, "-o", str(p.tmp / "rows.txt")),
        lambda p: p.tmp / "rows.txt"),
    row("score: --resume without -o", MISTAKE, lambda p: score(p, "--resume"), "--resume"),
    row("score: --metrics-json inside a file", MISTAKE,
        lambda p: score(p, "-o", str(p.tmp / "fresh.csv"), "--metrics-json", str(p.a_file / "m.json")),
        lambda p: p.a_file / "m.json"),
    row("score: --plot without the bench extra", MISTAKE, lambda p: score(p, "--plot", str(p.tmp / "r.png")),
        "pip install 'bertvino[bench]'", blocked="matplotlib"),
    row("score: --plot inside a file", MISTAKE, lambda p: score(p, "--plot", str(p.a_file / "r.png")),
        lambda p: p.a_file / "r.png"),
    row("score: a bundle whose calibration has a negative temperature", MISTAKE,
        lambda p: ["score", str(p.reviews), "-m", str(p.damaged["calibration with a negative temperature"])],
        lambda p: p.damaged["calibration with a negative temperature"] / "bundle.json"),
    row("score: a bundle whose long_texts windows skip text", MISTAKE,
        lambda p: ["score", str(p.reviews), "-m", str(p.damaged["long_texts windows wider than the model"]),
                   "--no-progress", "-o", str(p.tmp / "windows-rows.csv")], "long_texts windows:500"),
    row("score: --ray without the ray extra", MISTAKE, lambda p: score(p, "--ray"),
        "pip install 'bertvino[ray]'", blocked="ray"),
    # calibrate
    row("calibrate: no such bundle", MISTAKE, lambda p: ["calibrate", str(p.missing), "--data", str(p.reviews)],
        lambda p: p.missing),
    row("calibrate: --data that is not there", MISTAKE, lambda p: ["calibrate", str(p.bundle), "--data", str(p.missing)],
        lambda p: p.missing),
    row("calibrate: unlabelled --data", MISTAKE, lambda p: ["calibrate", str(p.bundle), "--data", str(p.a_file),
                                                   "--no-progress"], lambda p: p.a_file),
    row("calibrate: an unknown --method", USAGE, lambda p: ["calibrate", str(p.bundle), "--data", str(p.reviews),
                                                     "--method", "platt"], "--method"),
    row("calibrate: without --data", USAGE, lambda p: ["calibrate", str(p.bundle)], "--data"),
    row("calibrate: a frozen bundle without its IR", MISTAKE, lambda p: ["calibrate", str(p.frozen), "--data",
                                                                str(p.reviews)], lambda p: p.frozen),
    row("score: --max-batch-tokens 0", USAGE, lambda p: score(p, "--max-batch-tokens", "0"), "--max-batch-tokens"),
    # validate
    row("validate: no such bundle", MISTAKE, lambda p: ["validate", "-m", str(p.missing), "--data", str(p.reviews)],
        lambda p: p.missing),
    row("validate: --data that is not there", MISTAKE, lambda p: ["validate", "-m", str(p.bundle), "--data", str(p.missing)],
        lambda p: p.missing),
    row("validate: reviews without labels", MISTAKE, lambda p: ["validate", "-m", str(p.bundle), "--data", str(p.a_file),
                                                       "--precision", "bf16", "--no-progress"], lambda p: p.a_file),
    row("validate: int8 of a bundle without an INT8 IR", MISTAKE, lambda p: ["validate", "-m", str(p.bundle), "--data",
                                                                    str(p.reviews), "--precision", "int8"],
        lambda p: p.bundle),
    row("validate: an unknown precision", USAGE, lambda p: ["validate", "-m", str(p.bundle), "--data", str(p.reviews),
                                                     "--precision", "fp8"], "--precision"),
    # tune
    row("tune: no such bundle", MISTAKE, lambda p: ["tune", "-m", str(p.missing)], lambda p: p.missing),
    # info
    row("info: no such bundle", MISTAKE, lambda p: ["info", "-m", str(p.missing)], lambda p: p.missing),
    row("info: labels in bundle.json that are not a list", MISTAKE,
        lambda p: ["info", "-m", str(p.damaged["labels not a list"])],
        lambda p: p.damaged["labels not a list"] / "bundle.json"),
    # bench
    row("bench: --batch-size 0", USAGE, lambda p: bench(p, "--batch-size", "0"), "--batch-size"),
    row("bench: --seconds nan", USAGE, lambda p: bench(p, "--seconds", "nan"), "--seconds"),
    row("bench: a length under 3", USAGE, lambda p: bench(p, "--lengths", "2"), "--lengths"),
    row("bench: an unknown precision", USAGE, lambda p: bench(p, "--precision", "fp8"), "--precision"),
    row("bench: --json inside a file", MISTAKE, lambda p: bench(p, "--json", str(p.a_file / "bench.json")),
        lambda p: p.a_file / "bench.json"),
    # serve
    row("serve: the port is taken", MISTAKE, lambda p: ["serve", "-m", str(p.bundle), "--port", str(p.taken_port)],
        lambda p: f"127.0.0.1:{p.taken_port}"),
    row("serve: --port out of range", USAGE, lambda p: ["serve", "-m", str(p.bundle), "--port", "70000"], "--port"),
    row("serve: --port past 65535", USAGE, lambda p: ["serve", "-m", str(p.bundle), "--port", "99999"], "--port"),
    row("serve: negative --port", USAGE, lambda p: ["serve", "-m", str(p.bundle), "--port", "-1"], "--port"),
    row("serve: --max-in-flight 0", USAGE, lambda p: ["serve", "-m", str(p.bundle), "--max-in-flight", "0"],
        "--max-in-flight"),
    row("serve: --body-timeout nan", USAGE, lambda p: ["serve", "-m", str(p.bundle), "--body-timeout", "nan"],
        "--body-timeout"),
    row("serve: no such bundle", MISTAKE, lambda p: ["serve", "-m", str(p.missing), "--port", "0"],
        lambda p: p.missing),
    row("serve: the gRPC port is taken", MISTAKE,
        lambda p: ["serve", "-m", str(p.bundle), "--port", "0", "--grpc-port", str(p.taken_port)],
        lambda p: f"127.0.0.1:{p.taken_port}"),
    row("serve: --grpc-port out of range", USAGE, lambda p: ["serve", "-m", str(p.bundle), "--grpc-port", "-1"],
        "--grpc-port"),
    row("serve: no such --api-key-file", MISTAKE,
        lambda p: ["serve", "-m", str(p.bundle), "--api-key-file", str(p.missing)], lambda p: p.missing),
    row("serve: an empty --api-key-file", MISTAKE,
        lambda p: ["serve", "-m", str(p.bundle), "--api-key-file", str(p.empty)], lambda p: p.empty),
    row("serve: an API key with a space", MISTAKE,
        lambda p: ["serve", "-m", str(p.bundle), "--api-key", "two words"], "API key"),
    row("serve: --api-key and --api-key-file", USAGE,
        lambda p: ["serve", "-m", str(p.bundle), "--api-key", "k", "--api-key-file", str(p.a_file)], "--api-key"),
    row("serve: --ssl-certfile without --ssl-keyfile", MISTAKE,
        lambda p: ["serve", "-m", str(p.bundle), "--ssl-certfile", str(p.a_file)], "--ssl-keyfile"),
    row("serve: no such --ssl-keyfile", MISTAKE,
        lambda p: ["serve", "-m", str(p.bundle), "--ssl-certfile", str(p.a_file), "--ssl-keyfile", str(p.missing)],
        lambda p: p.missing),
    row("serve: --ssl-certfile is not a certificate", MISTAKE,
        lambda p: ["serve", "-m", str(p.bundle), "--ssl-certfile", str(p.a_file), "--ssl-keyfile", str(p.a_file)],
        lambda p: p.a_file),
    row("serve: --model-repository is a file", MISTAKE,
        lambda p: ["serve", "--model-repository", str(p.a_file), "--port", "0"], lambda p: p.a_file),
    row("serve: no such --model-repository", MISTAKE,
        lambda p: ["serve", "--model-repository", str(p.missing), "--port", "0"], lambda p: p.missing),
    row("serve: an empty --model-repository", MISTAKE,
        lambda p: ["serve", "--model-repository", str(p.empty_dir), "--port", "0"], lambda p: p.empty_dir),
    row("serve: a repository whose only version is not a whole number", MISTAKE,
        lambda p: ["serve", "--model-repository", str(p.unnumbered), "--port", "0"], "VERSION a whole number"),
    row("serve: a repository model name with ':'", MISTAKE,
        lambda p: ["serve", "--model-repository", str(p.colon), "--port", "0"], lambda p: p.colon / "a:b"),
    row("serve: -m and --model-repository", USAGE,
        lambda p: ["serve", "-m", str(p.bundle), "--model-repository", str(p.empty_dir)], "--model-repository"),
    row("serve: --model-name and --model-repository", USAGE,
        lambda p: ["serve", "--model-name", "x", "--model-repository", str(p.empty_dir)], "--model-name"),
    row("serve: --poll-seconds 0", USAGE,
        lambda p: ["serve", "--model-repository", str(p.empty_dir), "--poll-seconds", "0"], "--poll-seconds"),
    row("serve: without the serve extra", MISTAKE, lambda p: ["serve", "-m", str(p.bundle)],
        "pip install 'bertvino[serve]'", blocked="starlette"),
    row("serve: --replicas 0", USAGE, lambda p: ["serve", "-m", str(p.bundle), "--ray", "--replicas", "0"],
        "--replicas"),
    row("serve: --replicas without --ray", MISTAKE, lambda p: ["serve", "-m", str(p.bundle), "--replicas", "2"],
        "--ray"),
    row("serve: --ray without the ray extra", MISTAKE, lambda p: ["serve", "-m", str(p.bundle), "--ray"],
        "pip install 'bertvino[ray]'", blocked="ray"),
    row("serve: --ray with --model-repository", MISTAKE,
        lambda p: ["serve", "--model-repository", str(p.empty_dir), "--ray"], "--model-repository"),
    row("serve: --ray with --grpc-port", MISTAKE,
        lambda p: ["serve", "-m", str(p.bundle), "--ray", "--grpc-port", "0"], "--grpc-port"),
    row("serve: --ray with --ssl-certfile that is not a certificate", MISTAKE,
        lambda p: ["serve", "-m", str(p.bundle), "--ray", "--ssl-certfile", str(p.a_file), "--ssl-keyfile",
                   str(p.a_file)], lambda p: p.a_file),
    row("serve: --ray with a device this machine lacks", MISTAKE,
        lambda p: ["serve", "-m", str(p.bundle), "--ray", "-d", "TPU"], "'TPU'"),
    row("serve: --ray with an address that is none", MISTAKE,
        lambda p: ["serve", "-m", str(p.bundle), "--ray=not an address"], "--ray"),
]


@pytest.fixture
def taken_port():
    """A port something else already listens on."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(1)
        yield listener.getsockname()[1]


@pytest.mark.parametrize("mistake", MISTAKES, ids=str)
def test_a_mistake_is_one_line_naming_it(mistake, paths, taken_port, capsys, monkeypatch):
    p = SimpleNamespace(**vars(paths), taken_port=taken_port)
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(mistake.stdin)))
    argv = [str(arg) for arg in mistake.argv(p)]
    if mistake.blocked or mistake.disk_bytes:
        code, err = run_in_a_process(argv, mistake.blocked, mistake.disk_bytes)
    else:
        code, err = run_here(argv, capsys)
    assert code == mistake.status, err
    assert "Traceback" not in err
    assert len(err.splitlines()) == 1, err
    assert err.startswith(f"bertvino {argv[0]}: error: "), err
    assert str(mistake.names(p)) in err, err


def run_here(argv, capsys) -> tuple:
    """(exit status, stderr) of the command in this process."""
    try:
        code = main(argv)
    except SystemExit as exit_:  # argparse's usage errors
        code = exit_.code
    return code, capsys.readouterr().err.strip()


# A fresh process in which `import PACKAGE` fails as it does where the package is not installed.
WITHOUT = "import sys; sys.modules[sys.argv[1]] = None; from bertvino.cli import main; sys.exit(main(sys.argv[2:]))"


def run_in_a_process(argv, blocked: str | None, disk_bytes: int | None) -> tuple:
    """(exit status, stderr) of the command in a fresh process, without `blocked` and with at most `disk_bytes`
    per file."""
    command = [sys.executable, "-c", WITHOUT, blocked or "bertvino-blocks-nothing", *argv]
    result = subprocess.run(command, capture_output=True, text=True, timeout=300,
                            preexec_fn=limit_file_size(disk_bytes) if disk_bytes else None)
    return result.returncode, result.stderr.strip()


def test_every_command_has_its_mistakes():
    from bertvino.cli import COMMANDS
    commands = {mistake.name.split(":")[0] for mistake in MISTAKES}
    assert commands == {name for name, *_ in COMMANDS}  # a new command comes with its mistakes
    assert len({mistake.name for mistake in MISTAKES}) == len(MISTAKES) >= 30


# --- a disk that fills up during score -------------------------------------------------------------------------

def limit_file_size(limit: int):
    """For a subprocess: files it writes may grow to `limit` bytes, then writes fail as on a full disk (EFBIG;
    Python ignores the SIGXFSZ that would otherwise kill it)."""
    return lambda: resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))


def test_a_full_disk_during_score_keeps_the_rows_written_and_resume_finishes(paths, tmp_path):
    output = tmp_path / "rows.csv"
    command = [sys.executable, "-m", "bertvino", "score", str(paths.reviews), "-m", str(paths.bundle), "-o",
               str(output), "--batch-size", "4", "--no-progress"]
    full = subprocess.run(command, capture_output=True, text=True, timeout=300, preexec_fn=limit_file_size(2000))
    assert full.returncode == 1, full.stderr
    path_line, error = full.stderr.strip().splitlines()  # which path runs, then the one error line
    assert path_line.startswith("bertvino score: f32 (model.xml): ") and "Traceback" not in error, full.stderr
    assert error.startswith(f"bertvino score: error: {output}: cannot write (File too large)") and "--resume" in error
    assert 0 < output.stat().st_size <= 2000
    resumed = subprocess.run([*command, "--resume"], capture_output=True, text=True, timeout=300)
    assert resumed.returncode == 0, resumed.stderr
    lines = output.read_text().splitlines()
    sources = [line.split(",")[0] for line in lines[1:]]
    assert lines[0].startswith("source,label,") and len(sources) == len(set(sources)) == 48  # each review once
    assert all(len(line.split(",")) == len(lines[0].split(",")) for line in lines)


BAD_NUMBERS = [("serve", "--port", "99999"), ("serve", "--port", "-1"), ("serve", "--port", "http"),
         ("train", "--seed", "-1"), ("train", "--snippets", "-2"), ("train", "--distill_threshold", "1.5"),
         ("train", "--save_checkpoints_secs", "-5"), ("score", "--batch-size", "0"), ("bench", "--seconds", "nan")]


@pytest.mark.parametrize("command, flag, value", BAD_NUMBERS, ids=" ".join)
def test_a_bad_number_is_a_usage_error(command, flag, value, capsys):
    """Every numeric option is checked by argparse: exit status 2 and a usage line, before any work."""
    with pytest.raises(SystemExit) as exit_:
        main([command, flag, value])
    err = capsys.readouterr().err
    assert exit_.value.code == 2 and f"argument {flag}" in err and f"(see bertvino {command} --help)" in err, err
