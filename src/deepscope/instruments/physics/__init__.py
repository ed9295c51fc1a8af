"""Statistical physics instruments: Ising models and renormalisation-group maps.

Facade over :mod:`~deepscope.instruments.physics.ising1d` (the 1D chain, its decimation map
``K' = (1/2) ln cosh 2K``, exact partition functions and sampling), ``ising2d_exact`` (Onsager,
exact enumeration), ``ising2d_mc`` (seeded numba Metropolis and Wolff samplers), ``stats``
(autocorrelation-corrected ``Stats``), ``rg2d`` (block spins, Migdal-Kadanoff), ``rbm``
(RBMs as variational RG) and ``mutual_info`` (RSMI coarse-graining).

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
from .ising2d_exact import (
    ExactAverages,
    critical_coupling,
    critical_temperature,
    enumerate_ising2d,
    exact_averages,
    onsager_energy,
    onsager_free_energy,
    onsager_magnetization,
)
from .ising2d_mc import ising2d_timeseries, lattice_energy, sample_ising2d
from .mutual_info import (
    block_environment_codes,
    filter_grid,
    mutual_information,
    mutual_information_filters,
)
from .rbm import (
    RBM,
    radius_of_gyration,
    random_receptive_fields,
    receptive_fields,
    rg_identity_residuals,
    stack_rbms,
    train_rbm,
    window_mass_fraction,
)
from .rg2d import (
    MigdalKadanoff,
    block_flow,
    decimate_2d,
    majority_rule,
    migdal_kadanoff,
    migdal_kadanoff_derivative,
    migdal_kadanoff_flow,
    migdal_kadanoff_map,
    nn_correlation_2d,
)
from .stats import (
    Stats,
    autocorrelation,
    binder_stats,
    estimate,
    integrated_time,
    jackknife_blocks,
    susceptibility_stats,
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
    # 2D Ising: exact references
    "ExactAverages", "critical_coupling", "critical_temperature", "enumerate_ising2d",
    "exact_averages", "onsager_energy", "onsager_free_energy", "onsager_magnetization",
    # 2D Ising: samplers
    "ising2d_timeseries", "lattice_energy", "sample_ising2d",
    # statistics
    "Stats", "autocorrelation", "binder_stats", "estimate", "integrated_time",
    "jackknife_blocks", "susceptibility_stats",
    # RG maps
    "MigdalKadanoff", "block_flow", "decimate_2d", "majority_rule", "migdal_kadanoff",
    "migdal_kadanoff_derivative", "migdal_kadanoff_flow", "migdal_kadanoff_map",
    "nn_correlation_2d",
    # RBMs and mutual information
    "RBM", "radius_of_gyration", "random_receptive_fields", "receptive_fields",
    "rg_identity_residuals", "stack_rbms", "train_rbm", "window_mass_fraction",
    "block_environment_codes", "filter_grid", "mutual_information",
    "mutual_information_filters",
]
