"""BERT in TensorFlow graph mode, with Google's variable names, so Google's checkpoints load as they are.

This follows google-research/bert's `modeling.py` (Apache-2.0) closely: the same scopes
(`bert/embeddings`, `bert/encoder/layer_N/...`, `bert/pooler/dense`), the same tanh-approximated GELU, the same
LayerNorm epsilon. It differs where TF 2.x forces it: `tf.compat.v1.layers` and `tf.contrib` are gone under
Keras 3, so `dense` and `layer_norm` are written out with `get_variable`, which also keeps the names exact.

Shapes are written B = batch, S = sequence length, H = hidden size, N = attention heads, D = H / N. Batch and
sequence length are dynamic, so one frozen graph serves every batch size and sequence length.

The classifier head (`output_weights`, `output_bias`) is `run_classifier.py`'s `create_model`, here as
`classifier_logits`.
"""

import math

import tensorflow as tf

from ..core.bundle import HEAD_VARIABLES, INPUT_NAMES
from ..core.config import ACTIVATIONS, BertConfig

tf1 = tf.compat.v1


def input_placeholders():
    """The three model inputs, int32 [B, S] with both dimensions dynamic, named as the frozen graph's inputs."""
    return [tf1.placeholder(tf.int32, [None, None], name=name) for name in INPUT_NAMES]


class BertModel:
    """BERT's encoder and pooler (Google's `BertModel`, without the TPU one-hot embedding path).

    Dropout is built into the graph only when `is_training` and its rate is non-zero, so an inference graph
    and the dropout-free second training pass hold no random ops. `random_init=False` gives every variable a
    zeros initializer: for graphs whose variables all come from a checkpoint, so that even the initializers
    hold no random ops.
    """

    def __init__(self, config: BertConfig, is_training: bool, input_ids, input_mask, segment_ids,
                 random_init: bool = True, scope: str = "bert"):
        hidden_dropout = config.hidden_dropout_prob if is_training else 0.0
        attention_dropout = config.attention_probs_dropout_prob if is_training else 0.0
        init = _initializer(config.initializer_range, random_init)
        if hidden_dropout > 0 or attention_dropout > 0:
            tf1.train.get_or_create_global_step()  # dropout's masks are drawn per step (`_dropout`)

        with tf1.variable_scope(scope):
            with tf1.variable_scope("embeddings"):
                self.embedding_output = _embeddings(config, input_ids, segment_ids, init, hidden_dropout)
            with tf1.variable_scope("encoder"):
                attention_bias = _attention_bias(input_mask)
                self.all_encoder_layers = _transformer(config, self.embedding_output, attention_bias, init,
                                                       hidden_dropout, attention_dropout)
                self.sequence_output = self.all_encoder_layers[-1]
            with tf1.variable_scope("pooler"):
                first_token = self.sequence_output[:, 0, :]  # [B, H]: the [CLS] position
                # [B, H]; its op is `bertvino.core.bundle.POOLER_OP`, where freeze cuts the graph.
                self.pooled_output = _dense(first_token, config.hidden_size, init, "dense", tf.tanh)


def classifier_logits(pooled_output, num_labels: int, dropout_prob: float, random_init: bool = True):
    """`run_classifier.py`'s head: logits [B, labels] = dropout(pooled) @ output_weights^T + output_bias.

    `output_weights` is [labels, H] (transposed against a dense kernel), exactly as Google stores it; that is
    the layout `weight.npy` keeps.
    """
    hidden_size = pooled_output.shape[-1]
    weights_name, bias_name = HEAD_VARIABLES
    output_weights = tf1.get_variable(weights_name, [num_labels, hidden_size],
                                      initializer=_initializer(0.02, random_init))
    output_bias = tf1.get_variable(bias_name, [num_labels], initializer=tf1.zeros_initializer())
    pooled_output = _dropout(pooled_output, dropout_prob)
    return tf.nn.bias_add(tf.matmul(pooled_output, output_weights, transpose_b=True), output_bias)


def gelu(x):
    """Google's GELU: the tanh approximation, 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3)))."""
    cdf = 0.5 * (1.0 + tf.tanh(math.sqrt(2.0 / math.pi) * (x + 0.044715 * tf.pow(x, 3))))
    return x * cdf


# The function behind each of `bertvino.core.config.ACTIVATIONS` (which checks bert_config.json without TensorFlow).
ACTIVATION_FUNCTIONS = {"gelu": gelu, "relu": tf.nn.relu, "tanh": tf.tanh, "linear": None}
assert tuple(ACTIVATION_FUNCTIONS) == ACTIVATIONS, "bertvino.core.config.ACTIVATIONS and the functions here disagree"


def _initializer(stddev, random_init):
    if random_init:
        return tf1.truncated_normal_initializer(stddev=stddev)
    return tf1.zeros_initializer()


def _dropout(x, rate):
    """Dropout only when it does something: a rate of 0 adds no op, so the graph stays free of random ops.

    Stateless: each dropout op draws its mask from (the graph's seed, which op it is, global_step), so a run
    resumed from model.ckpt-N draws at step N the masks the uninterrupted run drew there. A stateful op
    (tf.nn.dropout) starts its random stream afresh in every session, so a resumed run repeated step 0's masks.
    """
    if rate <= 0.0:
        return x
    graph = tf1.get_default_graph()
    ops = graph.get_collection_ref("bertvino_dropout_ops")
    ops.append(x.name)
    step = tf1.train.get_global_step()
    if step is None:
        raise ValueError("dropout needs the graph's global_step: build BertModel before the head")
    seed = tf.stack([tf.constant((graph.seed or 0) * 4096 + len(ops), tf.int64), tf.cast(step, tf.int64)])
    return tf.nn.experimental.stateless_dropout(x, rate=rate, seed=seed)


def _dense(x, units, init, name, activation=None):
    """x [rows, in] @ kernel [in, units] + bias [units]; variables `<name>/kernel` and `<name>/bias` as Google's."""
    with tf1.variable_scope(name):
        kernel = tf1.get_variable("kernel", [x.shape[-1], units], initializer=init)
        bias = tf1.get_variable("bias", [units], initializer=tf1.zeros_initializer())
        y = tf.nn.bias_add(tf.matmul(x, kernel), bias)
        return activation(y) if activation is not None else y


def _layer_norm(x, name="LayerNorm"):
    """LayerNorm over the last axis with Google's `gamma`/`beta` names and epsilon 1e-12."""
    with tf1.variable_scope(name):
        size = x.shape[-1]
        beta = tf1.get_variable("beta", [size], initializer=tf1.zeros_initializer())
        gamma = tf1.get_variable("gamma", [size], initializer=tf1.ones_initializer())
        mean, variance = tf.nn.moments(x, axes=[-1], keepdims=True)
        return tf.nn.batch_normalization(x, mean, variance, beta, gamma, variance_epsilon=1e-12)


def _embeddings(config, input_ids, segment_ids, init, dropout):
    """Word + segment + position embeddings, LayerNorm, dropout: [B, S] ids -> [B, S, H]."""
    word_table = tf1.get_variable("word_embeddings", [config.vocab_size, config.hidden_size], initializer=init)
    segment_table = tf1.get_variable("token_type_embeddings", [config.type_vocab_size, config.hidden_size],
                                     initializer=init)
    position_table = tf1.get_variable("position_embeddings", [config.max_position_embeddings,
                                                              config.hidden_size], initializer=init)
    seq_length = tf.shape(input_ids)[1]
    embeddings = (tf.gather(word_table, input_ids)
                  + tf.gather(segment_table, segment_ids)
                  + tf.expand_dims(position_table[:seq_length], 0))
    return _dropout(_layer_norm(embeddings), dropout)


def _attention_bias(input_mask):
    """[B, S] mask of 1s (real) and 0s (padding) -> [B, 1, 1, S] additive bias: 0 or -10000."""
    mask = tf.cast(input_mask[:, tf.newaxis, tf.newaxis, :], tf.float32)
    return (1.0 - mask) * -10000.0


def _transformer(config, x, attention_bias, init, hidden_dropout, attention_dropout):
    """The encoder stack: `num_hidden_layers` blocks of self-attention and feed-forward, each with a residual
    connection and a post-LayerNorm. Returns every layer's output, [B, S, H] each.

    As Google's, it works on [B*S, H] matrices inside, so every dense layer is one plain 2-D MatMul.
    """
    activation = ACTIVATION_FUNCTIONS[config.hidden_act]
    batch, seq = tf.shape(x)[0], tf.shape(x)[1]
    x = tf.reshape(x, [-1, config.hidden_size])  # [B*S, H]
    layers = []
    for index in range(config.num_hidden_layers):
        with tf1.variable_scope(f"layer_{index}"):
            with tf1.variable_scope("attention"):
                with tf1.variable_scope("self"):
                    context = _self_attention(config, x, batch, seq, attention_bias, init, attention_dropout)
                with tf1.variable_scope("output"):
                    attended = _dropout(_dense(context, config.hidden_size, init, "dense"), hidden_dropout)
                    attended = _layer_norm(attended + x)
            with tf1.variable_scope("intermediate"):
                intermediate = _dense(attended, config.intermediate_size, init, "dense", activation)
            with tf1.variable_scope("output"):
                out = _dropout(_dense(intermediate, config.hidden_size, init, "dense"), hidden_dropout)
                x = _layer_norm(out + attended)
        layers.append(tf.reshape(x, [batch, seq, config.hidden_size]))
    return layers


def _self_attention(config, x, batch, seq, attention_bias, init, dropout):
    """Multi-head scaled dot-product attention, [B*S, H] -> [B*S, H]."""
    heads = config.num_attention_heads
    head_size = config.hidden_size // heads

    def split_heads(t):  # [B*S, H] -> [B, N, S, D]
        return tf.transpose(tf.reshape(t, [batch, seq, heads, head_size]), [0, 2, 1, 3])

    query = split_heads(_dense(x, config.hidden_size, init, "query"))
    key = split_heads(_dense(x, config.hidden_size, init, "key"))
    value = split_heads(_dense(x, config.hidden_size, init, "value"))

    scores = tf.matmul(query, key, transpose_b=True) * (1.0 / math.sqrt(head_size))  # [B, N, S, S]
    probs = _dropout(tf.nn.softmax(scores + attention_bias), dropout)
    context = tf.transpose(tf.matmul(probs, value), [0, 2, 1, 3])  # [B, S, N, D]
    return tf.reshape(context, [-1, config.hidden_size])
