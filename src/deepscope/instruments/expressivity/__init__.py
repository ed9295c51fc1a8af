"""Expressivity instruments: Lin-Tegmark-Rolnick gates and exact parameter counting.

Facade over :mod:`deepscope.instruments.expressivity.gates` (torch: the 4-neuron multiplication
gate, the 3-neuron square gate, the one-neuron bit-product gate, their error scans) and
:mod:`deepscope.instruments.expressivity.counting` (exact integers: ``C(n+d, d)`` against ``v^n``,
local and translation-invariant Hamiltonians), :mod:`.compiler` (polynomials compiled into gate
networks with certified error bounds), :mod:`.products` (the ``2^n``-neuron shallow product and
the rank argument of no-flattening), :mod:`.taylor` (derivatives and their certified suprema),
:mod:`.training` (small dense and binary-tree networks for the depth experiments) and
:mod:`.information` (surprisal/softmax, Ising classification, Markov-chain information and the
RG trace condition).

References:
    Lin, Tegmark & Rolnick 2017, J. Stat. Phys. 168:1223, arXiv:1608.08225;
    Rolnick & Tegmark 2018, ICLR, arXiv:1705.05502.
"""

from __future__ import annotations

from .compiler import (
    CompilationReport,
    GateLayer,
    PolynomialNetwork,
    compile_polynomial,
    deep_product_network,
    evaluate_terms,
    observed_max_error,
    polynomial_terms,
)
from .counting import (
    count_monomials_by_enumeration,
    generic_function_parameters,
    local_hamiltonian_parameters,
    log10_binomial,
    log10_generic,
    n_monomials,
)
from .gates import (
    ACTIVATION_TABLE,
    MAX_DERIVATIVE_ORDER,
    Activation,
    BitProductGate,
    GateErrorScan,
    MultiplicationGate,
    SquareGate,
    bit_product_gate,
    fit_loglog_slope,
    gate_error_scan,
    get_activation,
    multiplication_gate,
    next_order_relative_error,
    square_gate,
    square_next_order_relative_error,
)
from .information import (
    bsc_chain_information,
    ising_bayes_accuracy,
    ising_bayes_predict,
    ising_energies,
    mutual_information,
    plugin_mutual_information,
    rg_counterexample,
    sample_bsc_chain,
    softmax_posterior,
    statistic_information,
    wall_flip_probability,
)
from .products import (
    ShallowProductNetwork,
    minimum_shallow_width,
    shallow_product_network,
    shallow_product_next_order,
    subset_matrix,
    subset_matrix_rank,
)
from .taylor import activation_derivatives, sup_abs_derivative
from .training import (
    DenseNet,
    TreeNet,
    binary_tree_function,
    fit_regression,
    split_width,
    torch_generator,
    tree_width_for_budget,
)

__all__ = [
    # gates
    "ACTIVATION_TABLE",
    "MAX_DERIVATIVE_ORDER",
    "Activation",
    "BitProductGate",
    "GateErrorScan",
    "MultiplicationGate",
    "SquareGate",
    "activation_derivatives",
    "bit_product_gate",
    "fit_loglog_slope",
    "gate_error_scan",
    "get_activation",
    "multiplication_gate",
    "next_order_relative_error",
    "square_gate",
    "square_next_order_relative_error",
    "sup_abs_derivative",
    # polynomial compiler and product networks
    "CompilationReport",
    "GateLayer",
    "PolynomialNetwork",
    "ShallowProductNetwork",
    "compile_polynomial",
    "deep_product_network",
    "evaluate_terms",
    "minimum_shallow_width",
    "observed_max_error",
    "polynomial_terms",
    "shallow_product_network",
    "shallow_product_next_order",
    "subset_matrix",
    "subset_matrix_rank",
    # trained depth experiments
    "DenseNet",
    "TreeNet",
    "binary_tree_function",
    "fit_regression",
    "split_width",
    "torch_generator",
    "tree_width_for_budget",
    # physics-ML dictionary, information, RG
    "bsc_chain_information",
    "ising_bayes_accuracy",
    "ising_bayes_predict",
    "ising_energies",
    "mutual_information",
    "plugin_mutual_information",
    "rg_counterexample",
    "sample_bsc_chain",
    "softmax_posterior",
    "statistic_information",
    "wall_flip_probability",
    # counting
    "count_monomials_by_enumeration",
    "generic_function_parameters",
    "local_hamiltonian_parameters",
    "log10_binomial",
    "log10_generic",
    "n_monomials",
]
