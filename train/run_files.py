"""The files a training run writes beside its checkpoints, read and written here only:

    train_info.json    how the run was made: the flags that fix its data order and schedule, its labels, its
                       starting checkpoint. A resumed run checks it; freeze takes its labels, max_seq_length,
                       truncation and do_lower_case from it.
    eval_results.txt   the validation results, "key = value" lines as run_classifier.py writes them. Written last,
                       so a run directory that has one is finished (the recipe relies on that).

No TensorFlow here: `freeze` and the recipe read these files too.
"""

from pathlib import Path

from ..core.files import read_json_object, write_json_atomically, write_text_atomically

TRAIN_INFO_FILE = "train_info.json"
EVAL_RESULTS_FILE = "eval_results.txt"


def read_train_info(run_dir) -> dict | None:
    """The run's train_info.json, or None when the directory has none (a checkpoint trained elsewhere)."""
    path = Path(run_dir) / TRAIN_INFO_FILE
    return read_json_object(path, "a training run's train_info.json") if path.is_file() else None


def write_train_info(run_dir, info: dict):
    write_json_atomically(Path(run_dir) / TRAIN_INFO_FILE, info)


def read_eval_results(run_dir) -> dict | None:
    """eval_results.txt as {key: number}, or None when the run has none (not finished, or trained elsewhere)."""
    path = Path(run_dir) / EVAL_RESULTS_FILE
    if not path.is_file():
        return None
    results = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        key, _, value = line.partition(" = ")
        try:
            results[key.strip()] = float(value) if "." in value or "e" in value else int(value)
        except ValueError:
            results[key.strip()] = value.strip()
    return results


def write_eval_results(run_dir, results: dict):
    write_text_atomically(Path(run_dir) / EVAL_RESULTS_FILE,
                          "".join(f"{key} = {value}\n" for key, value in sorted(results.items())))
