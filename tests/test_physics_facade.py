"""The public physics path: deepscope.physics re-exports the Ising and RG instruments."""

from __future__ import annotations

import math

import numpy as np


def test_contract_names_from_public_path():
    from deepscope.physics import (
        critical_temperature,
        decimate_1d,
        migdal_kadanoff,
        onsager_magnetization,
        sample_ising2d,
    )

    assert math.isclose(critical_temperature(), 2 / math.log(1 + math.sqrt(2)), rel_tol=1e-12)
    assert math.isclose(decimate_1d(0.7), 0.5 * math.log(math.cosh(1.4)), rel_tol=1e-14)
    assert onsager_magnetization(critical_temperature() * 1.01) == 0
    K_star, nu = migdal_kadanoff(b=2)
    result = migdal_kadanoff(b=2)
    assert (K_star, nu) == (result.K_star, result.nu)
    spins = sample_ising2d(4, 2.0, 3, method="wolff", seed=1, n_sweeps_between=1, n_burn_in=10)
    assert spins.dtype == np.int8 and spins.shape == (3, 4, 4)
    assert set(np.unique(spins)) <= {-1, 1}
