"""Versioned price lists and the estimator."""
