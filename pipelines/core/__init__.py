"""Beam-free functions on one record or one batch. Fast to test, reusable outside Beam."""
