"""Google BERT's optimizer: Adam with decoupled weight decay, linear warm-up, then linear decay to zero.

As google-research/bert's `optimization.py` (Apache-2.0): beta1 0.9, beta2 0.999, epsilon 1e-6, weight decay
0.01 on everything but LayerNorm and biases, gradients clipped to global norm 1.0, no bias correction. Its slot
variables are named `<variable>/adam_m` and `<variable>/adam_v`, and `global_step` counts steps, so the checkpoints
this writes have the same layout as `run_classifier.py`'s.
"""

import re

import tensorflow as tf

tf1 = tf.compat.v1

# Variables whose names match get no weight decay, as in Google's run_classifier.py.
NO_DECAY = ("LayerNorm", "layer_norm", "bias")


def create_train_op(loss, init_lr: float, num_train_steps: int, num_warmup_steps: int):
    """The op that runs one training step, and the learning-rate tensor (for the progress bar).

    lr(step) = init_lr * step / warmup while step < warmup, else init_lr * (1 - step / num_train_steps).
    """
    global_step = tf1.train.get_or_create_global_step()
    step = tf.cast(global_step, tf.float32)
    decayed = init_lr * tf.maximum(1.0 - step / float(max(num_train_steps, 1)), 0.0)
    if num_warmup_steps > 0:
        warmup = init_lr * step / float(num_warmup_steps)
        learning_rate = tf.where(step < float(num_warmup_steps), warmup, decayed)
    else:
        learning_rate = decayed

    params = tf1.trainable_variables()
    grads = tf.gradients(loss, params)
    grads, _ = tf.clip_by_global_norm(grads, clip_norm=1.0)
    updates = [_adam_weight_decay(grad, param, learning_rate) for grad, param in zip(grads, params)
               if grad is not None]
    with tf.control_dependencies(updates):
        train_op = global_step.assign_add(1)
    return train_op, learning_rate


def _adam_weight_decay(grad, param, learning_rate, weight_decay_rate=0.01, beta_1=0.9, beta_2=0.999,
                       epsilon=1e-6):
    """One parameter's update; returns the op that applies it (and updates its two slots)."""
    name = re.sub(r":\d+$", "", param.name)
    m = tf1.get_variable(name + "/adam_m", param.shape.as_list(), tf.float32, trainable=False,
                         initializer=tf1.zeros_initializer())
    v = tf1.get_variable(name + "/adam_v", param.shape.as_list(), tf.float32, trainable=False,
                         initializer=tf1.zeros_initializer())
    if isinstance(grad, tf.IndexedSlices):  # from tf.gather on an embedding table
        grad = tf.convert_to_tensor(grad)
    next_m = beta_1 * m + (1.0 - beta_1) * grad
    next_v = beta_2 * v + (1.0 - beta_2) * tf.square(grad)
    update = next_m / (tf.sqrt(next_v) + epsilon)
    if not any(part in name for part in NO_DECAY):
        update += weight_decay_rate * param
    return tf.group(param.assign(param - learning_rate * update), m.assign(next_m), v.assign(next_v))
