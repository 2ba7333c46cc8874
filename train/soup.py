"""Average the weights of fine-tuned checkpoints that started from the same one (a "model soup").

Passes fine-tuned from one checkpoint on different data land near each other, and the mean of their weights is
often better than each of them (Wortsman et al., 2022, "Model soups"): on the default model's validation reviews
and one-line dev sets, the mean of three one-liner passes from v3 beat every one of them (docs/default-model.md).
Averaging needs only the checkpoints, so it costs seconds, not a training run.

    run_a/model.ckpt-N, run_b/model.ckpt-M, ...   (same bert_config.json, same labels)
        -> output_dir/bert_model.ckpt.*, bert_config.json, vocab.txt, train_info.json (what the runs shared, with
           `soup`: each ingredient and what it did differently), which `bertvino freeze` reads as a training run's's
"""

import json
import shutil
from pathlib import Path

import numpy as np

from ..core.config import BertConfig
from ..core.errors import BertvinoError, file_error
from ..core.files import atomic_directory
from .checkpoint import load_variable, resolve_checkpoint, variable_shapes
from .import_hf import CHECKPOINT_NAME, check_output_dir, tensor_specs, write_checkpoint
from .run_files import read_eval_results, read_train_info, write_train_info

HEAD = ("output_weights", "output_bias")


def soup(checkpoints, output_dir) -> Path:
    """Write the element-wise mean of the checkpoints' BERT and head weights into the new directory `output_dir`;
    returns its checkpoint prefix. Every ingredient is read and checked before anything is written."""
    if len(checkpoints) < 2:
        raise BertvinoError("soup needs at least two checkpoints to average")
    output_dir = Path(output_dir)
    check_output_dir(output_dir)
    prefixes = [resolve_checkpoint(path) for path in checkpoints]
    folders = [Path(prefix).parent for prefix in prefixes]
    config_path = folders[0] / "bert_config.json"
    if not config_path.is_file():
        raise file_error(config_path, "no such file (each ingredient's run directory holds its bert_config.json)")
    config = json.loads(config_path.read_text(encoding="utf-8"))
    infos = [read_train_info(folder) or {} for folder in folders]
    for folder, info in zip(folders[1:], infos[1:]):
        other = folder / "bert_config.json"
        if not other.is_file() or json.loads(other.read_text(encoding="utf-8")) != config:
            raise file_error(other, f"is not the same BERT config as {config_path}: only one model's fine-tunes "
                                    f"can be averaged")
        if info.get("labels") != infos[0].get("labels"):
            raise file_error(folder / "train_info.json", f"labels {info.get('labels')} differ from "
                                                         f"{infos[0].get('labels')} in {folders[0]}")

    names = [spec.google for spec in tensor_specs(BertConfig.from_json_file(config_path))] + list(HEAD)
    shapes = [variable_shapes(prefix) for prefix in prefixes]
    for prefix, stored in zip(prefixes, shapes):
        missing = [name for name in names if name not in stored]
        if missing:
            raise file_error(prefix, f"lacks {missing[0]}: is it a fine-tuned classifier checkpoint?")
        if any(stored[name] != shapes[0][name] for name in names):
            raise file_error(prefix, f"its shapes differ from {prefixes[0]}'s")
    weights = {name: np.mean([load_variable(prefix, name) for prefix in prefixes], axis=0, dtype=np.float64)
               .astype(np.float32) for name in names}

    # what every ingredient's run shared describes the soup; what differed (its data, where it started) each one
    shared = {key: value for key, value in infos[0].items() if all(info.get(key) == value for info in infos)}
    info = {**shared, "soup": [{"checkpoint": prefix,
                                **{key: value for key, value in ingredient.items() if key not in shared},
                                "validation": read_eval_results(folder)}
                               for prefix, folder, ingredient in zip(prefixes, folders, infos)]}
    with atomic_directory(output_dir) as staging:
        write_checkpoint(weights, staging / CHECKPOINT_NAME)
        shutil.copyfile(config_path, staging / "bert_config.json")
        shutil.copyfile(folders[0] / "vocab.txt", staging / "vocab.txt")
        write_train_info(staging, info)
    print(f"Averaged {len(prefixes)} checkpoints ({len(weights)} tensors) -> {output_dir / CHECKPOINT_NAME}")
    return output_dir / CHECKPOINT_NAME
