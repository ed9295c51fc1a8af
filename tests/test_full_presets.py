"""Full presets (closer to the papers). These three take seconds, so CI runs them too; mark a
future long one with @pytest.mark.slow."""

from __future__ import annotations

import numpy as np
import pytest

from deepscope.registry import experiments

SPECS = list(experiments().values())


@pytest.mark.parametrize("spec", SPECS, ids=[s.id for s in SPECS])
def test_full_preset_reproduces(spec):
    result = spec.run(spec.config_cls.full(), np.random.default_rng(0))
    failing = [(c.name, c.measured, c.expected, c.outcome) for c in result.checks
               if c.outcome != "pass"]
    assert result.verdict == "reproduced", failing
