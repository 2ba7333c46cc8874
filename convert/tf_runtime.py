"""Running a bundle's frozen graph in TensorFlow: the reference the IR is checked against, and the baseline
`bertvino bench` compares OpenVINO with. TensorFlow is imported inside, as in every TF-only stage."""

from pathlib import Path

from ..core.bundle import INPUT_NAMES, POOLER_OP


class FrozenGraph:
    """frozen.pb loaded into its own graph and session; `pooled(arrays)` -> [batch, hidden].

    Grappler's meta-optimizer is off: on a frozen BERT-base graph it roughly doubles peak memory (~6 GB) for no
    gain in speed here.
    """

    def __init__(self, frozen_pb):
        import tensorflow as tf

        tf1 = tf.compat.v1
        graph_def = tf1.GraphDef()
        graph_def.ParseFromString(Path(frozen_pb).read_bytes())
        graph = tf.Graph()
        with graph.as_default():
            tf1.import_graph_def(graph_def, name="")
        config = tf1.ConfigProto()
        config.graph_options.rewrite_options.disable_meta_optimizer = True
        self.session = tf1.Session(graph=graph, config=config)
        self.output = graph.get_tensor_by_name(f"{POOLER_OP}:0")
        self.inputs = {name: graph.get_tensor_by_name(f"{name}:0") for name in INPUT_NAMES}

    def pooled(self, arrays: dict):
        return self.session.run(self.output, {self.inputs[name]: value for name, value in arrays.items()})

    def close(self):
        self.session.close()


def frozen_graph_output(frozen_pb, arrays: dict):
    """The pooled output of one batch through frozen.pb: the reference an IR is checked against."""
    graph = FrozenGraph(frozen_pb)
    try:
        return graph.pooled(arrays)
    finally:
        graph.close()
