"""Exactly solvable statistical physics instruments (numpy only, no torch).

Facade over :mod:`deepscope.instruments.physics.ising1d`: the 1D Ising chain, its decimation
renormalization-group map ``K' = (1/2) ln cosh 2K`` (``tanh K' = tanh^2 K``), exact partition
functions, correlation length, fixed points and exact open-chain sampling.

References:
    Kadanoff 1966 / textbook decimation; Mehta & Schwab 2014, arXiv:1410.3831;
    Lin, Tegmark & Rolnick 2017, J. Stat. Phys. 168:1223, arXiv:1608.08225.
"""

from __future__ import annotations

from .ising1d import (
    FixedPoint,
    correlation_length,
    decimate_1d,
    decimate_samples,
    decimation_constant,
    decimation_flow,
    finite_decimation_residual,
    fixed_points_1d,
    flow_derivative,
    free_energy_identity_residual,
    free_energy_per_spin,
    log_decimation_constant,
    log_partition_open,
    log_partition_periodic,
    log_tanh,
    nn_correlation,
    nn_correlation_estimate,
    sample_chain,
    tanh_identity_residual,
    transfer_matrix,
)

__all__ = [
    "FixedPoint",
    "correlation_length",
    "decimate_1d",
    "decimate_samples",
    "decimation_constant",
    "decimation_flow",
    "finite_decimation_residual",
    "fixed_points_1d",
    "flow_derivative",
    "free_energy_identity_residual",
    "free_energy_per_spin",
    "log_decimation_constant",
    "log_partition_open",
    "log_partition_periodic",
    "log_tanh",
    "nn_correlation",
    "nn_correlation_estimate",
    "sample_chain",
    "tanh_identity_residual",
    "transfer_matrix",
]
