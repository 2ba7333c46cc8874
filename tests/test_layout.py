"""The house has one direction, read from the code's own imports (no import is run).

Floors, top to bottom: the entry points at the checkout's root (cli.py, client.py, ray.py), the stages in
pipeline order (train -> convert -> infer), models/, and core/ (the contracts). An import may only point down,
or from a stage to one upstream of it; the one declared exception is the training teacher (train/snippets.py runs
a bundle through infer). infer/ is the runtime and imports neither TensorFlow, NNCF, nor the stages that do.
Inside the package every import of the package is relative, so a static reader resolves it to the folder it names.
"""

import ast
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
STAGES = ("train", "convert", "infer")  # pipeline order
FLOOR = {"bertvino": 4, "train": 3, "convert": 3, "infer": 3, "models": 2, "core": 1}
DECLARED = {("train/snippets.py", "infer")}  # the teacher: vets training snippets with a bundle through OpenVINO
TF_FREE_FORBIDDEN = ("tensorflow", "nncf")


def package_files():
    yield from sorted(ROOT.glob("*.py"))
    for folder in ("core", *STAGES, "models"):
        yield from sorted((ROOT / folder).glob("*.py"))


def part_of(module: str) -> str:
    """'bertvino.infer.scoring' -> 'infer'; 'bertvino.cli' -> 'bertvino' (the root's entry points)."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 and parts[1] in FLOOR else "bertvino"


def imports(path: Path):
    """(absolute module, line) of every import in `path`, relative ones resolved against its package."""
    relative = path.relative_to(ROOT)
    package = ["bertvino", *relative.parts[:-1]]
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name, node.lineno, 0
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[:len(package) - node.level + 1]
                module = ".".join(base + ([node.module] if node.module else []))
                if not node.module:  # from . import x, y: each name may be a module
                    for alias in node.names:
                        yield module + "." + alias.name, node.lineno, node.level
                    continue
                yield module, node.lineno, node.level
            else:
                yield node.module, node.lineno, 0


def test_imports_point_one_way():
    wrong = []
    for path in package_files():
        name = str(path.relative_to(ROOT))
        here = name.split("/")[0] if "/" in name else "bertvino"
        for module, line, level in imports(path):
            top = module.split(".")[0]
            if here == "infer" and top in TF_FREE_FORBIDDEN:
                wrong.append(f"{name}:{line} imports {module} (infer/ is OpenVINO + NumPy only)")
            if top != "bertvino":
                continue
            if not level:
                wrong.append(f"{name}:{line} imports {module} absolutely (use a relative import)")
            there = part_of(module)
            if there == here or (name, there) in DECLARED:
                continue
            if FLOOR[there] > FLOOR[here]:
                wrong.append(f"{name}:{line} imports {module}: {here} may not import {there}, which is above it")
            elif here in STAGES and there in STAGES and STAGES.index(there) > STAGES.index(here):
                wrong.append(f"{name}:{line} imports {module}: {here} may not import {there}, downstream of it")
            elif here == "infer" and there in STAGES:
                wrong.append(f"{name}:{line} imports {module}: infer/ imports no other stage (TensorFlow, NNCF)")
    assert not wrong, "\n".join(wrong)


def test_the_reader_sees_a_violation(tmp_path, monkeypatch):
    """The check above can fail: a planted upward import in infer/ is reported."""
    planted = ROOT / "infer" / "_planted_for_test.py"
    planted.write_text("from ..cli import main\nfrom ..convert.ir import quantize\nimport tensorflow\n")
    try:
        with pytest.raises(AssertionError) as failure:
            test_imports_point_one_way()
    finally:
        planted.unlink()
    message = str(failure.value)
    assert "infer may not import bertvino, which is above it" in message
    assert "infer/ imports no other stage" in message
    assert "imports tensorflow" in message


def test_no_folder_is_named_like_the_package():
    """A `bertvino/` folder at the root would hide the installed package from `python -m` and Ray's workers."""
    assert not (ROOT / "bertvino").exists()


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    """The package installed the way a user does (a built wheel, not editable) into a folder of its own."""
    import shutil
    source = tmp_path_factory.mktemp("source") / "checkout"  # setuptools builds in the tree: not in ours
    shutil.copytree(ROOT, source, ignore=shutil.ignore_patterns(".git", ".ci-venv", ".venv", "build", "*.egg-info",
                                                                "__pycache__", ".pytest_cache"))
    target = tmp_path_factory.mktemp("site")
    subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--target", str(target),
                    str(source)], check=True, cwd=source)
    return target


def run_from_root(installed, *args, timeout=300):
    import os
    env = {**os.environ, "PYTHONPATH": str(installed), "TF_CPP_MIN_LOG_LEVEL": "2"}
    return subprocess.run([sys.executable, *args], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=timeout)


def test_installed_package_is_used_from_the_checkout_root(installed):
    done = run_from_root(installed, "-c", "import bertvino, bertvino.infer.classifier; print(bertvino.__file__)")
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().startswith(str(installed)), done.stdout
    done = run_from_root(installed, "-m", "bertvino", "classify", "A wonderful, moving film.")
    assert done.returncode == 0, done.stderr
    assert done.stdout.split()[0] in ("positive", "negative")


def test_bench_runs_from_the_checkout_root(installed, fp32_bundle):
    """bench's cold-start step runs `python -m bertvino` in a fresh process: it must find the installed package."""
    done = run_from_root(installed, "-m", "bertvino", "bench", "-m", str(fp32_bundle), "--lengths", "16",
                         "--precision", "f32", "--seconds", "0.2", "--no-tensorflow")
    assert done.returncode == 0, done.stderr
    assert "16" in done.stdout


def test_score_on_ray_runs_from_the_checkout_root(installed, fp32_bundle, reviews_dir, tmp_path):
    """Ray puts the driver's working directory on its workers' path."""
    pytest.importorskip("ray")
    out = tmp_path / "out.csv"
    done = run_from_root(installed, "-m", "bertvino", "score", str(reviews_dir), "-m", str(fp32_bundle),
                         "-o", str(out), "--ray", timeout=600)
    assert done.returncode == 0, done.stderr
    assert len(out.read_text().splitlines()) > 1
