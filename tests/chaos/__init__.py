"""Convergence and robustness suite: chaos, kill points, bad input, secrets."""
