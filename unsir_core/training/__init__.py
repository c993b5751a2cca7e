"""Training an original model, or the retrained gold standard without the forget classes."""
