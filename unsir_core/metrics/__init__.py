"""Metrics of unlearning: accuracy on forget/retain classes, prediction distribution, weight distance,
relearn time and membership inference."""
