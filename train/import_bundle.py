"""Read a bundle's weights back out of its OpenVINO IR, as a Google-format fine-tuned checkpoint.

A bundle is what ships (the default model in models/ is one); its training checkpoints usually do not. To fine-tune
a shipped model further (a third pass on new data, a better default built on the last one), the weights must get back
into TensorFlow. The float IR still holds every one of them, under the frozen graph's op names:

    bert/.../query/MatMul     <- Convert <- Constant [out, in] (transpose_b) or [in, out]   -> .../query/kernel
    bert/.../query/BiasAdd    <- Convert <- Constant [1, out]                                -> .../query/bias
    .../LayerNorm/batchnorm/add_1 = MVN(x) * gamma + beta                                    -> gamma, beta
    bert/embeddings/word_embeddings (a Constant, or a Convert of one)                        -> the same name

and the classifier head is the bundle's weight.npy / bias.npy (output_weights, output_bias). The result is what
`run_classifier.py` would have written, so `bertvino train --init_checkpoint` continues from it (with its head) and
`bertvino freeze` freezes it again. An FP16 IR gives back FP16-rounded weights (relative error ~5e-4), which a
further fine-tune absorbs; an INT8 IR is not read (its weights are quantized), only the bundle's float IR.

    bundle/model.xml + weight.npy + bias.npy + bert_config.json + vocab.txt
        -> output_dir/bert_model.ckpt.*, bert_config.json, vocab.txt, import_info.json
"""

import json
import shutil
from pathlib import Path

import numpy as np

from ..core.bundle import load_bundle
from ..core.config import BertConfig
from ..core.errors import file_error
from ..core.files import atomic_directory
from .import_hf import CHECKPOINT_NAME, IMPORT_INFO_FILE, check_output_dir, tensor_specs, write_checkpoint


def import_bundle(bundle_dir, output_dir) -> Path:
    """Write the bundle's weights and head into the new directory `output_dir` as a fine-tuned checkpoint; returns
    its prefix `output_dir/bert_model.ckpt`. Everything is read and checked before anything is written."""
    output_dir = Path(output_dir)
    check_output_dir(output_dir)
    bundle = load_bundle(bundle_dir)
    config_path = bundle.path / "bert_config.json"
    if not config_path.is_file():
        raise file_error(config_path, "no such file (the bundle's BERT config, which `freeze` copies into it)")
    config = BertConfig.from_json_file(config_path)

    weights = ir_weights(bundle.model_xml, config)
    head_weight, head_bias = bundle.head()
    weights["output_weights"], weights["output_bias"] = head_weight, head_bias
    info = {"source": str(bundle.path.resolve()), "ir": bundle.model_xml.name, "ir_precision": bundle.precision,
            "labels": list(bundle.labels), "max_seq_length": bundle.max_seq_length, "truncation": bundle.truncation,
            "note": "weights read back from the bundle's float IR; an FP16 IR gives FP16-rounded weights"}

    with atomic_directory(output_dir) as staging:
        write_checkpoint(weights, staging / CHECKPOINT_NAME)
        shutil.copyfile(config_path, staging / "bert_config.json")
        shutil.copyfile(bundle.vocab_file, staging / "vocab.txt")
        (staging / IMPORT_INFO_FILE).write_text(json.dumps(info, indent=2) + "\n", encoding="utf-8")
    print(f"Imported {bundle.path} ({bundle.model_xml.name}, {bundle.precision}) -> {output_dir / CHECKPOINT_NAME} "
          f"({len(weights)} tensors, labels {','.join(bundle.labels)})")
    return output_dir / CHECKPOINT_NAME


def ir_weights(model_xml: Path, config: BertConfig) -> dict:
    """{Google variable name: float32 array} for every variable of BERT's body and pooler, read from the IR."""
    import openvino as ov

    ops = {op.get_friendly_name(): op for op in ov.Core().read_model(model_xml).get_ordered_ops()}

    def op(name):
        if name not in ops:
            raise file_error(model_xml, f"has no op {name}: is it an IR that `bertvino convert` made from a frozen "
                                        f"BERT graph?")
        return ops[name]

    weights = {}
    for spec in tensor_specs(config):
        scope, variable = spec.google.rsplit("/", 1)
        if scope == "bert/embeddings":
            value = _constant(ops.get(spec.google) or op(f"{spec.google}_compressed"), model_xml)
        elif variable == "kernel":
            matmul = op(f"{scope}/MatMul")
            value = _constant(matmul.input_value(1).get_node(), model_xml)
            value = value.T if matmul.get_attributes()["transpose_b"] else value
        elif variable == "bias":
            value = _constant(op(f"{scope}/BiasAdd").input_value(1).get_node(), model_xml)
        else:  # LayerNorm: MVN(x) * gamma + beta, where the converter drops a gamma of ones and a beta of zeros
            gamma, beta = _layer_norm(op(f"{scope}/moments/mean/reduction_indices"), model_xml)
            value = gamma if variable == "gamma" else beta
            value = np.full(spec.shape, 1.0 if variable == "gamma" else 0.0, np.float32) if value is None else value
        value = value.reshape(-1) if len(spec.shape) == 1 else value  # a bias or LayerNorm is stored as [1, n]
        if tuple(value.shape) != spec.shape:
            raise file_error(model_xml, f"holds {spec.google} with shape {list(value.shape)}, but bert_config.json "
                                        f"implies {list(spec.shape)}: is it the bundle's own config?")
        weights[spec.google] = np.ascontiguousarray(value, dtype=np.float32)
    return weights


def _layer_norm(reduction_axes, model_xml):
    """(gamma or None, beta or None) of the LayerNorm whose MVN reads `reduction_axes`: the constant factor of the
    Multiply that follows the MVN, and the constant term of the Add after that (None where the converter dropped
    one as the identity)."""
    mvn = _only_consumer(reduction_axes, "MVN")
    if mvn is None:
        raise file_error(model_xml, f"has no MVN after {reduction_axes.get_friendly_name()}: is it an IR that "
                                    f"`bertvino convert` made from a frozen BERT graph?")
    gamma, beta, node = None, None, mvn
    multiply = _only_consumer(node, "Multiply")
    if multiply is not None and (gamma := _constant_input(multiply)) is not None:
        node = multiply
    add = _only_consumer(node, "Add")
    if add is not None:
        beta = _constant_input(add)
    return gamma, beta


def _only_consumer(node, type_name):
    """The node's one consumer if it is a `type_name`, else None."""
    consumers = [target.get_node() for target in node.output(0).get_target_inputs()]
    return consumers[0] if len(consumers) == 1 and consumers[0].get_type_name() == type_name else None


def _constant_input(node):
    """The value of the node's constant input (a Constant or a Convert of one), or None."""
    for source in node.input_values():
        if (weight := _unconverted(source.get_node())).get_type_name() == "Constant":
            return weight.get_data().astype(np.float32)
    return None


def _unconverted(node):
    """The node a Convert reads (an FP16-compressed IR stores each weight as a Constant and a Convert), or itself."""
    return node.input_value(0).get_node() if node.get_type_name() == "Convert" else node


def _constant(node, model_xml) -> np.ndarray:
    """The value of a Constant, or of a Convert of one."""
    node = _unconverted(node)
    if node.get_type_name() != "Constant":
        raise file_error(model_xml, f"expected a constant weight at {node.get_friendly_name()}, found a "
                                    f"{node.get_type_name()}: was the IR compressed or quantized by another tool?")
    return node.get_data().astype(np.float32)
