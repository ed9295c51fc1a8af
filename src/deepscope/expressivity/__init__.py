"""Public expressivity API: gates, the polynomial compiler, product networks, depth tools.

Re-exports :mod:`deepscope.expressivity`. Conventions: every gate or compiled network
maps a float tensor of shape ``(N, n_inputs)`` to shape ``(N,)`` and exposes ``n_hidden``;
``compile_polynomial`` orders its inputs as ``sorted(poly.free_symbols, key=str)``; an
``activation`` is a name (``"softplus"``, ``"exp"``, ``"tanh"``, ``"sigmoid"``, ``"relu"``,
optionally shifted like ``"tanh+0.5"``) or a callable with ``derivatives={k: sigma^(k)(0)}``.

Example:
    >>> import sympy
    >>> from deepscope.expressivity import compile_polynomial
    >>> x, y = sympy.symbols("x y")
    >>> net = compile_polynomial(x * y, "softplus", 0.01)
    >>> net.n_hidden
    4
"""

from __future__ import annotations

from . import _threshold as threshold
from ._compiler import (
    CompilationReport,
    GateLayer,
    PolynomialNetwork,
    box_points,
    compile_polynomial,
    deep_product_network,
    evaluate_terms,
    observed_max_error,
    polynomial_terms,
)
from ._compositional import fit_cosine, sensitivity_indices, shared_tree_function
from ._counting import (
    count_monomials_by_enumeration,
    generic_function_parameters,
    local_hamiltonian_parameters,
    log10_binomial,
    log10_generic,
    n_monomials,
)
from ._gates import (
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
from ._information import (
    bsc_chain_information,
    ising_bayes_accuracy,
    ising_bayes_predict,
    ising_energies,
    plugin_mutual_information,
    rg_counterexample,
    sample_bsc_chain,
    softmax_posterior,
    statistic_information,
    table_mutual_information,
    wall_flip_probability,
)
from ._products import (
    ShallowProductNetwork,
    minimum_shallow_width,
    shallow_product_network,
    shallow_product_next_order,
    subset_matrix,
    subset_matrix_rank,
)
from ._taylor import activation_derivatives, sup_abs_derivative
from ._training import (
    DenseNet,
    TreeNet,
    binary_tree_function,
    fit_regression,
    split_width,
    torch_generator,
    tree_width_for_budget,
)

__all__ = [
    # namespace: threshold units, the perceptron and parity networks
    "threshold",
    # compositional targets (Mhaskar and Poggio)
    "box_points",
    "fit_cosine",
    "sensitivity_indices",
    "shared_tree_function",
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
    "table_mutual_information",
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
