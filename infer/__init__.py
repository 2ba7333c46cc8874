"""The runtime: OpenVINO + NumPy only. Nothing here may import TensorFlow."""
