"""Evaluation: point and event metrics, detection delay, the NAB score."""
