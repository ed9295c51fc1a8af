"""Statistical physics instruments: Ising models, exact references and renormalisation maps.

The public path of :mod:`deepscope.physics` (pure measurement code, seeded, no I/O):

- 1D chain: :func:`decimate_1d` (K' = 1/2 ln cosh 2K), transfer-matrix free energies, exact
  sampling (:func:`sample_chain`) and decimation of samples.
- 2D lattice: :func:`critical_temperature`, :func:`onsager_magnetization`, Onsager's free energy
  and energy, exact enumeration for L <= 4, and :func:`sample_ising2d` (checkerboard Metropolis
  or Wolff, numba, seeded) returning int8 arrays of +-1 with shape (n_samples, L, L).
- Statistics: :class:`Stats` (mean, standard error corrected by the integrated autocorrelation
  time, and that time), jackknife Binder cumulant and susceptibility.
- RG maps: majority-rule blocks, decimation, :func:`migdal_kadanoff` (fixed point K* and nu;
  ``K_star, nu = migdal_kadanoff()``), block flows; RBMs as variational RG; mutual-information
  coarse-graining (Koch-Janusz and Ringel).
"""

from __future__ import annotations

from ._ising1d import (
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
from ._ising2d_exact import (
    ExactAverages,
    critical_coupling,
    critical_temperature,
    enumerate_ising2d,
    exact_averages,
    onsager_energy,
    onsager_free_energy,
    onsager_magnetization,
)
from ._ising2d_mc import ising2d_timeseries, lattice_energy, sample_ising2d
from ._mutual_info import (
    block_environment_codes,
    filter_grid,
    mutual_information,
    mutual_information_filters,
)
from ._rbm import (
    RBM,
    radius_of_gyration,
    random_receptive_fields,
    receptive_fields,
    rg_identity_residuals,
    stack_rbms,
    train_rbm,
    window_mass_fraction,
)
from ._rg2d import (
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
from ._stats import (
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
