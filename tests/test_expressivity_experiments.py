"""Issue-5 experiments: full presets reproduce (slow), and the refusal/preset contracts hold.

Quick presets are exercised by the contract suite (tests/test_contract.py).
"""

from __future__ import annotations

import numpy as np
import pytest

from deepscope.errors import UserInputError
from deepscope.registry import get

IDS = [
    "multiplication-gate",
    "square-and-bit-product-gates",
    "polynomial-compiler",
    "no-flattening",
    "physics-ml-dictionary",
    "markov-hierarchy-information",
    "rg-trace-condition",
    "compositional-deep-vs-shallow",
]


@pytest.mark.parametrize("experiment_id", IDS)
def test_registered_with_citations(experiment_id):
    from deepscope.citations import REFERENCES

    spec = get(experiment_id)
    assert set(spec.citations) <= set(REFERENCES)
    quick, full = spec.config_cls.quick(), spec.config_cls.full()
    assert quick != full or not spec.config_cls.QUICK


# The full preset of compositional-deep-vs-shallow does not reproduce CLAIMS C2's 0.5 ratio
# (see its module docstring); it is run below without asserting the verdict.
REPRODUCING = [i for i in IDS if i != "compositional-deep-vs-shallow"]


@pytest.mark.slow
def test_compositional_full_preset_runs_and_reports():
    spec = get("compositional-deep-vs-shallow")
    result = spec.run(spec.config_cls.full(), np.random.default_rng(0))
    assert result.verdict in ("reproduced", "not_reproduced", "inconclusive")
    assert {c.name for c in result.checks} >= {"tree_beats_shallow", "tree_ratio_largest_budget"}


@pytest.mark.slow
@pytest.mark.parametrize("experiment_id", REPRODUCING)
def test_full_preset_reproduces(experiment_id):
    spec = get(experiment_id)
    result = spec.run(spec.config_cls.full(), np.random.default_rng(0))
    failing = [(c.name, c.measured, c.expected, c.outcome) for c in result.checks
               if c.outcome != "pass"]
    assert result.verdict == "reproduced", failing
    assert result.figures


def test_config_validation_refuses_bad_values():
    import dataclasses

    for experiment_id, change in [
        ("polynomial-compiler", {"lams": (0.1,)}),
        ("no-flattening", {"depths": (2, 3)}),
        ("rg-trace-condition", {"k_scale": 0.0}),
        ("markov-hierarchy-information", {"n_bits": 7}),
    ]:
        cls = get(experiment_id).config_cls
        with pytest.raises(UserInputError):
            dataclasses.replace(cls.full(), **change).validate()
