"""Evaluation: statistics (ROC, DeLong, bootstrap, agreement), MRMC, metrics."""
