"""Freeze (TensorFlow) a checkpoint into a bundle, and convert (OpenVINO only) its frozen graph to IR."""
