"""Training (TensorFlow): BERT with Google's variable names, the optimizer, and the fine-tuning loop."""
