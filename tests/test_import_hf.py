"""Tests for bertvino.train.import_hf: a Hugging Face BERT directory -> Google's checkpoint layout.

The key test runs the imported checkpoint through our TensorFlow BERT and compares it with a NumPy forward pass
written here from the Hugging Face weights and Hugging Face's own conventions ([out, in] Linear weights), so a
wrong name, a missed transpose or a swapped LayerNorm gamma/beta cannot pass.
"""

import json
import math
import struct

import numpy as np
import pytest
import tensorflow as tf
from safetensors.numpy import save_file

from bertvino.core.config import BertConfig
from bertvino.core.errors import BertvinoError
from bertvino.train import import_hf as import_hf_module
from bertvino.train import modeling
from bertvino.train.checkpoint import resolve_checkpoint, variable_shapes
from bertvino.train.import_hf import import_hf
from checkpoints import VOCAB  # tests/checkpoints.py's 32 tokens, [PAD] [UNK] [CLS] [SEP] [MASK] first

tf1 = tf.compat.v1

HF_CONFIG = {
    "_name_or_path": "tiny/bert-for-tests", "architectures": ["BertForSequenceClassification"],
    "model_type": "bert", "vocab_size": len(VOCAB), "hidden_size": 32, "num_hidden_layers": 2,
    "num_attention_heads": 4, "intermediate_size": 64, "hidden_act": "gelu", "hidden_dropout_prob": 0.1,
    "attention_probs_dropout_prob": 0.1, "max_position_embeddings": 16, "type_vocab_size": 2,
    "initializer_range": 0.02, "layer_norm_eps": 1e-12, "position_embedding_type": "absolute",
    "pad_token_id": 0, "transformers_version": "4.40.0",
}
LAYERS, HIDDEN, INTERMEDIATE = 2, 32, 64


def hf_weights(seed=0, prefix="", pooler=True, heads=False) -> dict:
    """Random weights under Hugging Face's names; Linear weights are [out, in], as PyTorch stores them."""
    rng = np.random.default_rng(seed)
    weights = {}

    def add(name, *shape, scale=0.2, offset=0.0):
        weights[prefix + name] = (offset + rng.normal(0.0, scale, shape)).astype(np.float32)

    def linear(name, inputs, outputs):
        add(f"{name}.weight", outputs, inputs)
        add(f"{name}.bias", outputs, scale=0.1)

    def layer_norm(name):
        add(f"{name}.weight", HIDDEN, scale=0.1, offset=1.0)
        add(f"{name}.bias", HIDDEN, scale=0.1)

    add("embeddings.word_embeddings.weight", len(VOCAB), HIDDEN, scale=0.5)
    add("embeddings.position_embeddings.weight", 16, HIDDEN, scale=0.5)
    add("embeddings.token_type_embeddings.weight", 2, HIDDEN, scale=0.5)
    layer_norm("embeddings.LayerNorm")
    weights[prefix + "embeddings.position_ids"] = np.arange(16, dtype=np.int64)[None]  # a buffer, not a weight
    for n in range(LAYERS):
        for part in ("query", "key", "value"):
            linear(f"encoder.layer.{n}.attention.self.{part}", HIDDEN, HIDDEN)
        linear(f"encoder.layer.{n}.attention.output.dense", HIDDEN, HIDDEN)
        layer_norm(f"encoder.layer.{n}.attention.output.LayerNorm")
        linear(f"encoder.layer.{n}.intermediate.dense", HIDDEN, INTERMEDIATE)
        linear(f"encoder.layer.{n}.output.dense", INTERMEDIATE, HIDDEN)
        layer_norm(f"encoder.layer.{n}.output.LayerNorm")
    if pooler:
        linear("pooler.dense", HIDDEN, HIDDEN)
    if heads:  # outside the `bert.` prefix, as BertForPreTraining / BertForSequenceClassification save them
        weights["cls.predictions.bias"] = np.zeros(len(VOCAB), np.float32)
        weights["cls.seq_relationship.weight"] = np.zeros((2, HIDDEN), np.float32)
        weights["classifier.weight"] = np.zeros((3, HIDDEN), np.float32)
        weights["classifier.bias"] = np.zeros(3, np.float32)
    return weights


def write_hf_dir(directory, weights=None, config=HF_CONFIG, vocab=VOCAB):
    directory.mkdir(parents=True)
    (directory / "config.json").write_text(json.dumps(config), encoding="utf-8")
    (directory / "vocab.txt").write_text("\n".join(vocab) + "\n", encoding="utf-8")
    save_file(hf_weights() if weights is None else weights, str(directory / "model.safetensors"))
    return directory


def google_shapes() -> dict:
    """Every variable Google's BERT has, with its shape, written out independently of the importer."""
    shapes = {"bert/embeddings/word_embeddings": [len(VOCAB), HIDDEN],
              "bert/embeddings/position_embeddings": [16, HIDDEN],
              "bert/embeddings/token_type_embeddings": [2, HIDDEN],
              "bert/embeddings/LayerNorm/gamma": [HIDDEN], "bert/embeddings/LayerNorm/beta": [HIDDEN]}
    for n in range(LAYERS):
        layer = f"bert/encoder/layer_{n}"
        for dense, inputs, outputs in [("attention/self/query", HIDDEN, HIDDEN),
                                       ("attention/self/key", HIDDEN, HIDDEN),
                                       ("attention/self/value", HIDDEN, HIDDEN),
                                       ("attention/output/dense", HIDDEN, HIDDEN),
                                       ("intermediate/dense", HIDDEN, INTERMEDIATE),
                                       ("output/dense", INTERMEDIATE, HIDDEN)]:
            shapes[f"{layer}/{dense}/kernel"] = [inputs, outputs]
            shapes[f"{layer}/{dense}/bias"] = [outputs]
        for norm in ("attention/output/LayerNorm", "output/LayerNorm"):
            shapes[f"{layer}/{norm}/gamma"] = [HIDDEN]
            shapes[f"{layer}/{norm}/beta"] = [HIDDEN]
    shapes["bert/pooler/dense/kernel"] = [HIDDEN, HIDDEN]
    shapes["bert/pooler/dense/bias"] = [HIDDEN]
    return shapes


# --- A NumPy BERT, written the way Hugging Face's BertModel computes it --------------------------------------

def gelu_tanh(x):
    """Google's GELU (the tanh approximation), so the comparison can be tight; see benchmarks/gelu_import_check.py
    for how far the exact erf GELU of Hugging Face's "gelu" moves a real model."""
    return 0.5 * x * (1.0 + np.tanh(math.sqrt(2.0 / math.pi) * (x + 0.044715 * x ** 3)))


def numpy_bert(w: dict, input_ids, input_mask, segment_ids):
    """(sequence_output [B, S, H], pooled_output [B, H]) in float64 from HF-named weights (no `bert.`)."""
    w = {name: value.astype(np.float64) for name, value in w.items()}
    batch, seq = input_ids.shape
    heads = HF_CONFIG["num_attention_heads"]
    head_size = HIDDEN // heads

    def linear(x, name):  # PyTorch's Linear: x @ W^T + b
        return x @ w[f"{name}.weight"].T + w[f"{name}.bias"]

    def layer_norm(x, name):
        mean = x.mean(-1, keepdims=True)
        variance = ((x - mean) ** 2).mean(-1, keepdims=True)
        return (x - mean) / np.sqrt(variance + 1e-12) * w[f"{name}.weight"] + w[f"{name}.bias"]

    def split_heads(x):  # [B, S, H] -> [B, N, S, D]
        return x.reshape(batch, seq, heads, head_size).transpose(0, 2, 1, 3)

    x = (w["embeddings.word_embeddings.weight"][input_ids]
         + w["embeddings.token_type_embeddings.weight"][segment_ids]
         + w["embeddings.position_embeddings.weight"][np.arange(seq)][None])
    x = layer_norm(x, "embeddings.LayerNorm")
    mask_bias = (1.0 - input_mask[:, None, None, :]) * -10000.0
    for n in range(LAYERS):
        layer = f"encoder.layer.{n}"
        q, k, v = (split_heads(linear(x, f"{layer}.attention.self.{part}")) for part in ("query", "key", "value"))
        scores = q @ k.transpose(0, 1, 3, 2) / math.sqrt(head_size) + mask_bias
        probs = np.exp(scores - scores.max(-1, keepdims=True))
        probs /= probs.sum(-1, keepdims=True)
        context = (probs @ v).transpose(0, 2, 1, 3).reshape(batch, seq, HIDDEN)
        attended = layer_norm(linear(context, f"{layer}.attention.output.dense") + x,
                              f"{layer}.attention.output.LayerNorm")
        intermediate = gelu_tanh(linear(attended, f"{layer}.intermediate.dense"))
        x = layer_norm(linear(intermediate, f"{layer}.output.dense") + attended, f"{layer}.output.LayerNorm")
    pooled = np.tanh(linear(x[:, 0], "pooler.dense"))
    return x, pooled


def run_tf(prefix, input_ids, input_mask, segment_ids):
    """Our TF graph (modeling.BertModel) restored from the imported checkpoint."""
    config = BertConfig.from_json_file(prefix.parent / "bert_config.json")
    with tf.Graph().as_default():
        inputs = modeling.input_placeholders()
        bert = modeling.BertModel(config, False, *inputs)
        with tf1.Session() as session:
            tf1.train.Saver().restore(session, str(prefix))
            return session.run([bert.sequence_output, bert.pooled_output],
                               dict(zip(inputs, [input_ids, input_mask, segment_ids])))


# --- What the import writes ---------------------------------------------------------------------------------

@pytest.mark.parametrize("prefix", ["", "bert."], ids=["BertModel-names", "bert.-prefixed-names"])
def test_every_google_variable_is_in_the_checkpoint_with_its_shape(tmp_path, prefix):
    hf_dir = write_hf_dir(tmp_path / "hf", hf_weights(prefix=prefix))
    ckpt = import_hf(hf_dir, tmp_path / "google")

    assert ckpt == tmp_path / "google" / "bert_model.ckpt"
    assert variable_shapes(str(ckpt)) == google_shapes()
    assert resolve_checkpoint(tmp_path / "google") == str(ckpt)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["google", "hf"]  # no staging directory left behind
    assert sorted(p.name for p in (tmp_path / "google").iterdir()) == [
        "bert_config.json", "bert_model.ckpt.data-00000-of-00001", "bert_model.ckpt.index", "import_info.json",
        "vocab.txt"]


def test_config_vocab_and_import_info(tmp_path, capsys):
    hf_dir = write_hf_dir(tmp_path / "hf")
    import_hf(hf_dir, tmp_path / "google")

    config = json.loads((tmp_path / "google" / "bert_config.json").read_text())
    assert config == {"vocab_size": len(VOCAB), "hidden_size": 32, "num_hidden_layers": 2, "num_attention_heads": 4,
                      "intermediate_size": 64, "hidden_act": "gelu", "hidden_dropout_prob": 0.1,
                      "attention_probs_dropout_prob": 0.1, "max_position_embeddings": 16, "type_vocab_size": 2,
                      "initializer_range": 0.02}
    assert (tmp_path / "google" / "vocab.txt").read_bytes() == (hf_dir / "vocab.txt").read_bytes()
    info = json.loads((tmp_path / "google" / "import_info.json").read_text())
    assert info["source"] == str(hf_dir.resolve())
    assert info["model_type"] == "bert"
    assert info["name_or_path"] == "tiny/bert-for-tests"
    assert "exact (erf) GELU" in info["notes"]["gelu"]
    assert "exact (erf) GELU" in capsys.readouterr().out


@pytest.mark.parametrize("hf_act, google_act, note", [("gelu", "gelu", "exact (erf)"),
                                                      ("gelu_new", "gelu", "same function"),
                                                      ("gelu_pytorch_tanh", "gelu", "same function"),
                                                      ("relu", "relu", None)])
def test_activations_map_to_googles(tmp_path, hf_act, google_act, note):
    hf_dir = write_hf_dir(tmp_path / "hf", config={**HF_CONFIG, "hidden_act": hf_act})
    import_hf(hf_dir, tmp_path / "google")
    assert BertConfig.from_json_file(tmp_path / "google" / "bert_config.json").hidden_act == google_act
    notes = json.loads((tmp_path / "google" / "import_info.json").read_text())["notes"]
    assert (note in notes["gelu"]) if note else "gelu" not in notes


# --- The key test: the imported model computes what the Hugging Face model computes -------------------------

@pytest.mark.parametrize("prefix", ["", "bert."], ids=["BertModel-names", "bert.-prefixed-names"])
def test_imported_checkpoint_computes_the_hf_model(tmp_path, prefix):
    weights = hf_weights(seed=3, prefix=prefix, heads=True)
    ckpt = import_hf(write_hf_dir(tmp_path / "hf", weights), tmp_path / "google")

    rng = np.random.default_rng(4)
    input_ids = rng.integers(5, len(VOCAB), (3, 9)).astype(np.int32)
    input_ids[:, 0] = VOCAB.index("[CLS]")
    input_mask = np.ones_like(input_ids)
    input_mask[1, 5:] = 0  # row 1 is padded
    input_ids[1, 5:] = 0
    segment_ids = np.zeros_like(input_ids)
    segment_ids[2, 4:] = 1  # row 2 has a second segment

    sequence, pooled = run_tf(ckpt, input_ids, input_mask, segment_ids)
    hf_named = {name.removeprefix(prefix): value for name, value in weights.items()}
    expected_sequence, expected_pooled = numpy_bert(hf_named, input_ids, input_mask, segment_ids)

    assert np.abs(sequence - expected_sequence).max() < 1e-4
    assert np.abs(pooled - expected_pooled).max() < 1e-4
    assert np.abs(expected_pooled).max() > 0.1  # the check is not vacuous: the outputs are far from zero


# --- Variants a real checkpoint may come in -----------------------------------------------------------------

def test_heads_are_dropped_and_the_classifier_is_reported(tmp_path, capsys):
    import_hf(write_hf_dir(tmp_path / "hf", hf_weights(prefix="bert.", heads=True)), tmp_path / "google")
    out = capsys.readouterr().out
    assert "dropped classifier." in out and "classifier.weight" in out and "classifier.bias" in out
    assert "cls." not in out  # pre-training heads are in every pre-trained BERT: dropped without a word
    assert variable_shapes(str(tmp_path / "google" / "bert_model.ckpt")) == google_shapes()


def test_a_missing_pooler_is_created_and_reported(tmp_path, capsys):
    ckpt = import_hf(write_hf_dir(tmp_path / "hf", hf_weights(pooler=False)), tmp_path / "google")

    assert "no pooler" in capsys.readouterr().out
    assert variable_shapes(str(ckpt)) == google_shapes()
    kernel = tf.train.load_variable(str(ckpt), "bert/pooler/dense/kernel")
    assert 0.015 < kernel.std() < 0.025  # initializer_range 0.02
    assert not tf.train.load_variable(str(ckpt), "bert/pooler/dense/bias").any()


def test_old_gamma_beta_names_and_float16_tensors(tmp_path):
    weights = {name.replace("LayerNorm.weight", "LayerNorm.gamma").replace("LayerNorm.bias", "LayerNorm.beta"):
               value.astype(np.float16) if value.dtype == np.float32 else value
               for name, value in hf_weights().items()}
    ckpt = import_hf(write_hf_dir(tmp_path / "hf", weights), tmp_path / "google")

    gamma = tf.train.load_variable(str(ckpt), "bert/encoder/layer_1/output/LayerNorm/gamma")
    assert gamma.dtype == np.float32
    np.testing.assert_array_equal(gamma, weights["encoder.layer.1.output.LayerNorm.gamma"].astype(np.float32))
    kernel = tf.train.load_variable(str(ckpt), "bert/encoder/layer_0/intermediate/dense/kernel")
    np.testing.assert_array_equal(kernel, weights["encoder.layer.0.intermediate.dense.weight"].astype(np.float32).T)


# --- Refusals: one line, naming the file, and nothing written -----------------------------------------------

def import_error(tmp_path, hf_dir, output_dir=None) -> str:
    output_dir = output_dir or tmp_path / "google"
    with pytest.raises(BertvinoError) as raised:
        import_hf(hf_dir, output_dir)
    message = str(raised.value)
    assert "\n" not in message
    return message


@pytest.mark.parametrize("change, words", [
    ({"model_type": "roberta"}, "model_type is 'roberta'"),
    ({"model_type": "distilbert"}, "model_type is 'distilbert'"),
    ({"position_embedding_type": "relative_key"}, "position_embedding_type 'relative_key'"),
    ({"hidden_act": "silu"}, "hidden_act 'silu'"),
])
def test_refuses_configs_google_bert_cannot_run(tmp_path, change, words):
    hf_dir = write_hf_dir(tmp_path / "hf", config={**HF_CONFIG, **change})
    message = import_error(tmp_path, hf_dir)
    assert message.startswith(f"{hf_dir / 'config.json'}: ")
    assert words in message
    assert not (tmp_path / "google").exists()


@pytest.mark.parametrize("missing, words", [("model.safetensors", "pytorch_model.bin is not supported"),
                                            ("config.json", "no such file"), ("vocab.txt", "no such file")])
def test_refuses_a_directory_missing_a_file(tmp_path, missing, words):
    hf_dir = write_hf_dir(tmp_path / "hf")
    (hf_dir / missing).unlink()
    (hf_dir / "pytorch_model.bin").write_bytes(b"not read")
    message = import_error(tmp_path, hf_dir)
    assert message.startswith(f"{hf_dir / missing}: ")
    assert words in message


def test_refuses_a_tensor_with_the_wrong_shape(tmp_path):
    weights = hf_weights(prefix="bert.")
    weights["bert.encoder.layer.1.attention.self.key.weight"] = np.zeros((HIDDEN, HIDDEN + 1), np.float32)
    hf_dir = write_hf_dir(tmp_path / "hf", weights)
    message = import_error(tmp_path, hf_dir)
    assert message.startswith(f"{hf_dir / 'model.safetensors'}: ")
    assert "bert.encoder.layer.1.attention.self.key.weight has shape [32, 33]" in message
    assert not (tmp_path / "google").exists()


def test_refuses_a_missing_tensor_and_names_the_first(tmp_path):
    weights = hf_weights()
    del weights["encoder.layer.1.intermediate.dense.bias"]
    del weights["encoder.layer.1.output.dense.weight"]
    hf_dir = write_hf_dir(tmp_path / "hf", weights)
    message = import_error(tmp_path, hf_dir)
    assert message.startswith(f"{hf_dir / 'model.safetensors'}: ")
    assert "lacks the tensor encoder.layer.1.intermediate.dense.bias" in message


def test_refuses_tensors_the_config_does_not_account_for(tmp_path):
    hf_dir = write_hf_dir(tmp_path / "hf", config={**HF_CONFIG, "num_hidden_layers": 1})
    message = import_error(tmp_path, hf_dir)
    assert message.startswith(f"{hf_dir / 'model.safetensors'}: ")
    assert "encoder.layer.1." in message


def test_refuses_a_vocab_of_the_wrong_size(tmp_path):
    hf_dir = write_hf_dir(tmp_path / "hf", vocab=VOCAB + ["extra"])
    message = import_error(tmp_path, hf_dir)
    assert message.startswith(f"{hf_dir / 'vocab.txt'}: ")
    assert f"has {len(VOCAB) + 1} tokens but config.json's vocab_size is {len(VOCAB)}" in message


def test_refuses_bfloat16_with_a_clear_error(tmp_path):
    hf_dir = write_hf_dir(tmp_path / "hf")
    header = json.dumps({"embeddings.word_embeddings.weight": {"dtype": "BF16", "shape": [2],
                                                               "data_offsets": [0, 4]}}).encode()
    (hf_dir / "model.safetensors").write_bytes(struct.pack("<Q", len(header)) + header + b"\x80\x3f\x00\x40")
    message = import_error(tmp_path, hf_dir)
    assert message.startswith(f"{hf_dir / 'model.safetensors'}: ")
    assert "bfloat16" in message


def test_refuses_a_non_empty_output_directory(tmp_path):
    hf_dir = write_hf_dir(tmp_path / "hf")
    (tmp_path / "google").mkdir()
    (tmp_path / "google" / "notes.txt").write_text("mine")
    message = import_error(tmp_path, hf_dir)
    assert message.startswith(f"{tmp_path / 'google'}: ")
    assert sorted(p.name for p in (tmp_path / "google").iterdir()) == ["notes.txt"]


def test_an_empty_output_directory_is_used(tmp_path):
    (tmp_path / "google").mkdir()
    ckpt = import_hf(write_hf_dir(tmp_path / "hf"), tmp_path / "google")
    assert variable_shapes(str(ckpt)) == google_shapes()


def test_a_failed_write_leaves_nothing_behind(tmp_path, monkeypatch):
    def fail(weights, prefix):
        prefix.with_name("bert_model.ckpt.index").write_bytes(b"half written")
        raise KeyboardInterrupt

    monkeypatch.setattr(import_hf_module, "write_checkpoint", fail)
    hf_dir = write_hf_dir(tmp_path / "hf")
    with pytest.raises(KeyboardInterrupt):
        import_hf(hf_dir, tmp_path / "google")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["hf"]


def test_the_command_imports_and_reports_errors_in_one_line(tmp_path, capsys):
    from bertvino.cli import main
    hf_dir = write_hf_dir(tmp_path / "hf")
    assert main(["import-hf", str(hf_dir), "--output", str(tmp_path / "google")]) == 0
    assert "bert_model.ckpt" in capsys.readouterr().out
    assert main(["import-hf", str(hf_dir), "-o", str(tmp_path / "google")]) == 1
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and str(tmp_path / "google") in err
