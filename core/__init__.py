"""The contracts every stage shares: the bundle, the model config, WordPiece, review readers, labels, files, errors.

Nothing here imports a stage (train, convert, infer) or TensorFlow; the stages import it.
"""
