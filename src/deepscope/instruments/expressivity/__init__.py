"""Expressivity instruments: Lin-Tegmark-Rolnick gates and exact parameter counting.

Facade over :mod:`deepscope.instruments.expressivity.gates` (torch: the 4-neuron multiplication
gate, the 3-neuron square gate, the one-neuron bit-product gate, their error scans) and
:mod:`deepscope.instruments.expressivity.counting` (exact integers: ``C(n+d, d)`` against ``v^n``,
local and translation-invariant Hamiltonians).

References:
    Lin, Tegmark & Rolnick 2017, J. Stat. Phys. 168:1223, arXiv:1608.08225;
    Rolnick & Tegmark 2018, ICLR, arXiv:1705.05502.
"""

from __future__ import annotations

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

__all__ = [
    "ACTIVATION_TABLE",
    "MAX_DERIVATIVE_ORDER",
    "Activation",
    "BitProductGate",
    "GateErrorScan",
    "MultiplicationGate",
    "SquareGate",
    "bit_product_gate",
    "count_monomials_by_enumeration",
    "fit_loglog_slope",
    "gate_error_scan",
    "generic_function_parameters",
    "get_activation",
    "local_hamiltonian_parameters",
    "log10_binomial",
    "log10_generic",
    "multiplication_gate",
    "n_monomials",
    "next_order_relative_error",
    "square_gate",
    "square_next_order_relative_error",
]
