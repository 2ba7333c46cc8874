"""bertvino: a fine-tuned Google-format BERT text classifier, from checkpoint to fast CPU inference with OpenVINO.

Importing this package (or running `classify`/`score`) never imports TensorFlow: the TF-only stages
(`bertvino.train`, `bertvino.convert.freeze`) import it inside their functions.
"""

__version__ = "0.1.0"
