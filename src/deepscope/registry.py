"""The experiment registry: an explicit mapping from a stable id to its spec.

Each experiment module defines ``Config`` (a frozen :class:`~deepscope.config.ExperimentConfig`),
``run(config, rng) -> ExperimentResult`` and ``SPEC`` (an :class:`ExperimentSpec`). Ids are
kebab-case and part of the public contract: never rename one.

To add an experiment: write ``deepscope/experiments/<name>.py`` with those three names, then add
its module to ``_MODULES`` below. The contract suite in ``tests/test_contract.py`` runs every
registered experiment's quick preset.
"""

from __future__ import annotations

import dataclasses
import importlib
import re
from collections.abc import Callable
from typing import Any

from .errors import UserInputError

_ID = re.compile(r"^[a-z0-9]+(-[a-z0-9]+)*$")


@dataclasses.dataclass(frozen=True)
class ExperimentSpec:
    """Everything the CLI and the report need to know about an experiment.

    Attributes:
        id: stable kebab-case identifier (part of the contract).
        title: short human title.
        claim: the claim tested, in one line.
        source: where the claim comes from (paper, section, equation).
        config_cls: the frozen configuration dataclass.
        run: ``run(config, rng) -> ExperimentResult``.
        citations: bibliography keys (see :mod:`deepscope.citations`).
        statement: the claim in a few sentences, for the report.
        formula: the formula tested, as plain text.
    """

    id: str
    title: str
    claim: str
    source: str
    config_cls: type
    run: Callable[..., Any]
    citations: tuple[str, ...] = ()
    statement: str = ""
    formula: str = ""

    def __post_init__(self) -> None:
        if not _ID.match(self.id):
            raise ValueError(f"experiment id {self.id!r} is not kebab-case")


# Explicit list of experiment modules, in report order.
_MODULES = (
    "deepscope.experiments.ising1d_decimation",
    "deepscope.experiments.ising2d_exact_benchmarks",
    "deepscope.experiments.migdal_kadanoff",
    "deepscope.experiments.block_spin_flow",
    "deepscope.experiments.rbm_as_rg",
    "deepscope.experiments.mutual_information_rg",
    "deepscope.experiments.multiplication_gate",
    "deepscope.experiments.parameter_counting",
    "deepscope.experiments.square_and_bit_product_gates",
    "deepscope.experiments.polynomial_compiler",
    "deepscope.experiments.no_flattening",
    "deepscope.experiments.physics_ml_dictionary",
    "deepscope.experiments.markov_hierarchy_information",
    "deepscope.experiments.rg_trace_condition",
    "deepscope.experiments.compositional_deep_vs_shallow",
    "deepscope.experiments.linear_autoencoder_critical_points",
    "deepscope.experiments.deep_linear_no_bad_minima",
    "deepscope.experiments.strict_saddle_factorization",
    "deepscope.experiments.gauss_newton_decomposition",
    "deepscope.experiments.hessian_bulk_outliers",
    "deepscope.experiments.spin_glass_landscape",
    "deepscope.experiments.critical_point_index",
    "deepscope.experiments.linear_interpolation",
    "deepscope.experiments.edge_of_stability",
    "deepscope.experiments.sharp_vs_flat_minima",
    "deepscope.experiments.training_is_np_hard",
    "deepscope.experiments.scattering_invariance",
    "deepscope.experiments.sparse_coding_filters",
    "deepscope.experiments.adversarial_examples",
    "deepscope.experiments.activation_maximization",
    "deepscope.experiments.perceptron_xor",
)

_cache: dict[str, ExperimentSpec] | None = None


def experiments() -> dict[str, ExperimentSpec]:
    """All registered experiments, id -> spec, in report order."""
    global _cache
    if _cache is None:
        specs: dict[str, ExperimentSpec] = {}
        for module_name in _MODULES:
            spec = importlib.import_module(module_name).SPEC
            if spec.id in specs:
                raise RuntimeError(f"duplicate experiment id {spec.id!r}")
            specs[spec.id] = spec
        _cache = specs
    return dict(_cache)


def get(experiment_id: str) -> ExperimentSpec:
    """The spec for ``experiment_id``, or a one-line error listing the valid ids."""
    specs = experiments()
    if experiment_id not in specs:
        raise UserInputError(
            f"unknown experiment {experiment_id!r}; run 'deepscope list' (known: "
            f"{', '.join(specs)})"
        )
    return specs[experiment_id]
