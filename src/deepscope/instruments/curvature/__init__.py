"""Curvature instruments: exact matrix-free operators and the solvers that use them.

The public path is :mod:`deepscope.curvature`.
"""
