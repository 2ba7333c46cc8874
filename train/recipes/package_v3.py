"""Ship the v3 bundle: copy its files (no frozen.pb) into PACKAGE_DIR and complete its provenance.

    python train/recipes/package_v3.py BUNDLE RUN_DIR V2_BUNDLE PACKAGE_DIR

Called by train/recipes/imdb_minilm_v3.sh once every measurement is in BUNDLE's bundle.json. Provenance: the model
it continues (v2) and v2's own recipe, pass 3's settings and validation, IMDB test (f32, from RUN_DIR/test-f32.json,
read with the bundle's long_texts), and the recipe's command; every command recorded in bundle.json names the shipped
directory, not the run's. The INT8 IR's guard record is `bertvino validate`'s (RUN_DIR/bundle-after-validate.json);
int8_accuracy.py's IMDB test comparison, which replaced it, moves to `imdb_test`.
"""

import json
import re
import shutil
import sys
from pathlib import Path

from bertvino.core.bundle import INT8_IR, load_bundle, update_ir_record, update_metadata
from bertvino.core.files import write_json_atomically

FILES = ("bundle.json", "vocab.txt", "bert_config.json", "model.xml", "model.bin", "model-int8.xml", "model-int8.bin",
         "weight.npy", "bias.npy")


RUN_FILES = re.compile(r"[^\s'\"]*/(float\.csv|int8\.csv|int8_accuracy\.json|aclImdb-train-validation|aclImdb_v1\.tar\.gz)")
RUN_BUNDLE = re.compile(r"[^\s'\"]*/imdb-minilm\b")


def _shipped_commands(value):
    """Every "command" in bundle.json with the run's bundle as models/imdb-minilm and data/run files by name."""
    if isinstance(value, dict):
        return {key: (RUN_FILES.sub(r"\1", RUN_BUNDLE.sub("models/imdb-minilm", item)) if key == "command"
                      and isinstance(item, str) else _shipped_commands(item)) for key, item in value.items()}
    if isinstance(value, list):
        return [_shipped_commands(item) for item in value]
    return value


def main(bundle_dir: Path, run_dir: Path, v2_dir: Path, package_dir: Path):
    v2 = load_bundle(v2_dir, require_ir=False).metadata["provenance"]
    results = dict(line.split(" = ") for line in (run_dir / "pass3" / "eval_results.txt").read_text().splitlines())
    validation = {key: float(value) if "." in value else int(value) for key, value in results.items()}
    test = json.loads((run_dir / "test-f32.json").read_text())

    partial = package_dir.with_name(package_dir.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir(parents=True)
    for name in FILES:
        shutil.copyfile(bundle_dir / name, partial / name)
    # the commands in the measurement records name the run's files: name the shipped bundle and the files' own names
    write_json_atomically(partial / "bundle.json", _shipped_commands(json.loads((partial / "bundle.json").read_text())))

    bundle = load_bundle(partial)
    guard = _shipped_commands(json.loads((run_dir / "bundle-after-validate.json").read_text()))
    guard = guard["irs"][INT8_IR]["accuracy"]["test"]
    imdb_test = {"note": "all 25,000 IMDB test reviews and 2,000 last sentences, int8 against f32, read with "
                         f"long_texts {bundle.long_texts}: the README's table", **bundle.ir_record(INT8_IR)["accuracy"]}
    update_ir_record(bundle, INT8_IR, {"accuracy": {"test": guard, "imdb_test": imdb_test}})
    provenance = dict(bundle.metadata["provenance"])
    provenance.pop("pass1", None)
    provenance.update({
        "checkpoint": f"v3/pass3/model.ckpt-{validation['global_step']}",
        "validation": validation,
        "base_model": v2["base_model"],
        "data": v2["data"],
        "init": {"model": "v2, the previous default (models/imdb-minilm at commit 692368d), read back from its FP16 "
                          "IR by `bertvino import-bundle`",
                 "recipe": v2.get("recipe"), "test_accuracy": v2["test"]["accuracy"],
                 "validation": v2.get("validation")},
        "test": {"data": "aclImdb_v1.tar.gz (test/)", "reviews": test["scored"],
                 "accuracy": round(test["metrics"]["accuracy"], 4), "ece": test["metrics"]["calibration"]["ece"],
                 "long_texts": bundle.long_texts,
                 "command": "bertvino score aclImdb_v1.tar.gz --split test -m models/imdb-minilm --precision f32 "
                            "--metrics-json test-f32.json"},
        "recipe": "git worktree add ../bertvino-v2 692368d && V2=../bertvino-v2/models/imdb-minilm RUN_DIR=runs/v3 "
                  "PACKAGE_DIR=models/imdb-minilm train/recipes/imdb_minilm_v3.sh",
    })
    update_metadata(bundle, provenance=provenance)
    # what else names the run's folder (the data calibrate was fitted on): the file's own name
    metadata = (partial / "bundle.json").read_text().replace(f"{run_dir.as_posix().rstrip('/')}/", "")
    write_json_atomically(partial / "bundle.json", json.loads(metadata))
    if package_dir.exists():
        shutil.rmtree(package_dir)
    partial.rename(package_dir)
    print(f"packaged {bundle_dir} -> {package_dir}")


if __name__ == "__main__":
    main(*(Path(arg) for arg in sys.argv[1:5]))
