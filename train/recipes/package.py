"""Ship a bundle that train/recipes/continue_default.sh measured: copy its files (no frozen.pb) into PACKAGE_DIR and
complete its provenance.

    python train/recipes/package.py BUNDLE RUN_DIR PASS INIT_BUNDLE PACKAGE_DIR --version v5 --init-name NAME
        --recipe CMD [--extra-data PATH] [--int8-results benchmarks/results/int8_accuracy.json]

Provenance: the model the pass continued (INIT_BUNDLE) and its recipe, the pass's settings and validation (its
eval_results.txt; for a checkpoint no run evaluated, such as a soup, RUN_DIR/validation-f32.json), IMDB
test (f32, RUN_DIR/test-f32.json, read with the bundle's long_texts), and the recipe's command. Every command
recorded in bundle.json names the shipped bundle and the data files by their own names, not the run's paths. The
INT8 IR's guard record stays `bertvino validate`'s (RUN_DIR/bundle-after-validate.json); int8_accuracy.py's IMDB
test comparison, which replaced it, moves to `imdb_test`.
"""

import argparse
import json
import re
import shutil
from pathlib import Path

from bertvino.core.bundle import INT8_IR, load_bundle, update_ir_record, update_metadata
from bertvino.core.files import write_json_atomically
from bertvino.infer.precision import detect_capabilities
from bertvino.train.checkpoint import resolve_checkpoint
from bertvino.train.run_files import read_eval_results

FILES = ("bundle.json", "vocab.txt", "bert_config.json", "model.xml", "model.bin", "model-int8.xml", "model-int8.bin",
         "weight.npy", "bias.npy")

RUN_FILES = re.compile(r"[^\s'\"]*/(float\.csv|int8\.csv|int8_accuracy\.json|aclImdb-train-validation|aclImdb_v1\.tar\.gz)")
RUN_BUNDLE = re.compile(r"[^\s'\"]*/imdb-minilm\b")
SHIPPED = "models/imdb-minilm"


def _shipped_commands(value):
    """Every "command" in a record with the run's bundle as models/imdb-minilm and data/run files by name."""
    if isinstance(value, dict):
        return {key: (RUN_FILES.sub(r"\1", RUN_BUNDLE.sub(SHIPPED, item)) if key == "command"
                      and isinstance(item, str) else _shipped_commands(item)) for key, item in value.items()}
    if isinstance(value, list):
        return [_shipped_commands(item) for item in value]
    return value


def _machine() -> str:
    """The CPU the guards ran on, for their note (int8's float ops run in bf16 only where bf16 is native)."""
    capabilities = detect_capabilities()
    flags = [flag for flag in ("amx_int8", "amx_bf16", "avx512_vnni", "avx512_bf16", "avx_vnni")
             if flag in capabilities.cpu_flags]
    return f"{capabilities.cpu_model or 'an unnamed CPU'} ({', '.join(flags) or 'no VNNI, AMX or native bf16'})"


def _validation(run_dir: Path, pass_dir: Path) -> dict:
    """The pass's own validation, or for a checkpoint no training run evaluated, `score`'s on the same split."""
    validation = read_eval_results(pass_dir)
    if validation is not None:
        return validation
    scored = json.loads((run_dir / "validation-f32.json").read_text())
    return {"eval_accuracy": round(scored["metrics"]["accuracy"], 4), "eval_examples": scored["scored"],
            "measured_by": "bertvino score aclImdb-train-validation --precision f32 (read as trained, before "
                           "long_texts was set)"}


def package(bundle_dir: Path, run_dir: Path, pass_dir: Path, init_dir: Path, package_dir: Path, version: str,
            init_name: str, recipe: str, extra_data: str | None = None, int8_results: Path | None = None):
    init = load_bundle(init_dir, require_ir=False).metadata["provenance"]
    validation = _validation(run_dir, pass_dir)
    test = json.loads((run_dir / "test-f32.json").read_text())

    partial = package_dir.with_name(package_dir.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir(parents=True)
    for name in FILES:
        shutil.copyfile(bundle_dir / name, partial / name)
    write_json_atomically(partial / "bundle.json", _shipped_commands(json.loads((partial / "bundle.json").read_text())))

    bundle = load_bundle(partial)
    guard = _shipped_commands(json.loads((run_dir / "bundle-after-validate.json").read_text()))
    guard = {**guard["irs"][INT8_IR]["accuracy"]["test"],
             "note": "the recipe's validation split: 20 % of aclImdb train/, stratified, seed 12345, which training "
                     "held out; the int8 path as `auto` runs it here (float ops in bf16 where bf16 is native); "
                     f"long_texts {bundle.long_texts}; measured on {_machine()}"}
    imdb_test = {"note": "all 25,000 IMDB test reviews and 2,000 last sentences, int8 against f32, read with "
                         f"long_texts {bundle.long_texts}: the README's table", **bundle.ir_record(INT8_IR)["accuracy"]}
    update_ir_record(bundle, INT8_IR, {"accuracy": {"test": guard, "imdb_test": imdb_test}})

    provenance = dict(bundle.metadata["provenance"])
    provenance.pop("pass1", None)
    train_info = dict(provenance["train_info"])
    if "soup" not in train_info:  # a soup's ingredients say where each started
        train_info["init_checkpoint"] = f"{init_name}, read back by `bertvino import-bundle`"
        train_info["bert_config_file"] = f"{init_name}: its bert_config.json"
    if extra_data:
        train_info["extra_data"] = [Path(extra_data).as_posix()]
    provenance.update({
        "checkpoint": f"{version}/{Path(resolve_checkpoint(pass_dir)).resolve().relative_to(run_dir.resolve()).as_posix()}",
        "train_info": train_info,
        "validation": validation,
        "base_model": init["base_model"],
        "data": init["data"],
        "init": {"model": f"{init_name}, read back from its FP16 IR by `bertvino import-bundle`",
                 "recipe": init.get("recipe"), "test_accuracy": init["test"]["accuracy"],
                 "validation": init.get("validation")},
        "test": {"data": "aclImdb_v1.tar.gz (test/)", "reviews": test["scored"],
                 "accuracy": round(test["metrics"]["accuracy"], 4), "ece": test["metrics"]["calibration"]["ece"],
                 "long_texts": bundle.long_texts,
                 "command": f"bertvino score aclImdb_v1.tar.gz --split test -m {SHIPPED} --precision f32 "
                            "--metrics-json test-f32.json"},
        "recipe": recipe,
    })
    if init.get("long_texts", {}).get("setting") == bundle.long_texts:
        provenance["long_texts"] = init["long_texts"]  # how the reading was chosen, when it is the same reading
    update_metadata(bundle, provenance=provenance)
    # what else names the run's folder (the data calibrate was fitted on): the file's own name
    metadata = (partial / "bundle.json").read_text().replace(f"{run_dir.as_posix().rstrip('/')}/", "")
    write_json_atomically(partial / "bundle.json", json.loads(metadata))
    if package_dir.exists():
        shutil.rmtree(package_dir)
    partial.rename(package_dir)

    if int8_results:
        record = _shipped_commands(json.loads((run_dir / "int8_accuracy.json").read_text()))
        record["long_texts"] = bundle.long_texts
        record["bundle"] = SHIPPED
        write_json_atomically(int8_results, json.loads(json.dumps(record).replace(f"{run_dir.as_posix()}/", "")))
    print(f"packaged {bundle_dir} -> {package_dir}")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("bundle", type=Path)
    parser.add_argument("run_dir", type=Path)
    parser.add_argument("pass_dir", type=Path, help="the checkpoint's directory (the pass, or a soup)")
    parser.add_argument("init", type=Path, help="the bundle the pass continued")
    parser.add_argument("package_dir", type=Path)
    parser.add_argument("--version", required=True, help="the new model's name, e.g. v5")
    parser.add_argument("--init-name", required=True, help='e.g. "v3 (models/imdb-minilm at commit 3c577a9)"')
    parser.add_argument("--recipe", required=True, help="the command that rebuilds it, for provenance")
    parser.add_argument("--extra-data", help="the --extra_data file the pass read, as provenance names it")
    parser.add_argument("--int8-results", type=Path, help="also write int8_accuracy.py's record here")
    args = parser.parse_args()
    package(args.bundle, args.run_dir, args.pass_dir, args.init, args.package_dir, args.version, args.init_name, args.recipe,
            args.extra_data, args.int8_results)


if __name__ == "__main__":
    main()
