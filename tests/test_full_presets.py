"""Full presets (closer to the papers): `make test-all` runs them; CI runs the quick ones.

A full preset may honestly fail to reproduce its claim; those known outcomes are listed here with
the reason, and the test then checks that the verdict is computed from complete checks.
"""

from __future__ import annotations

import numpy as np
import pytest

from deepscope.registry import experiments

SPECS = list(experiments().values())

# Measured outcomes that differ from the claim (see each module's docstring and the closing notes).
KNOWN_NOT_REPRODUCED = {
    # CLAIMS.md B5 proposes a >= 3x locality gain over random weights at the full settings; we
    # measure about 1.3x with the CLAIMS.md L1 penalty, and layer-2 fields are not wider.
    "rbm-as-rg": "locality gain below the proposed 3x at the full preset",
}


@pytest.mark.slow
@pytest.mark.parametrize("spec", SPECS, ids=[s.id for s in SPECS])
def test_full_preset(spec):
    result = spec.run(spec.config_cls.full(), np.random.default_rng(0))
    assert result.checks and all(c.outcome in ("pass", "fail", "inconclusive")
                                 for c in result.checks)
    failing = [(c.name, c.measured, c.expected, c.outcome) for c in result.checks
               if c.outcome != "pass"]
    if spec.id in KNOWN_NOT_REPRODUCED:
        assert result.verdict in ("not_reproduced", "inconclusive"), (
            f"{spec.id} now reproduces at the full preset: update KNOWN_NOT_REPRODUCED"
        )
    else:
        assert result.verdict == "reproduced", failing
