"""Analyses behind CLI commands other than the experiment registry (e.g. ``hessian``)."""
