"""Policies: the continuous-training loop (drift alert → capture → labels → retrain → canary)."""
