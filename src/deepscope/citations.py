"""Bibliography: citation keys used by experiments, env.json and the report."""

from __future__ import annotations

REFERENCES: dict[str, str] = {
    "lin2017": (
        "H. W. Lin, M. Tegmark and D. Rolnick, 'Why does deep and cheap learning work so well?', "
        "J. Stat. Phys. 168:1223-1247 (2017), arXiv:1608.08225."
    ),
    "rolnick2018": (
        "D. Rolnick and M. Tegmark, 'The power of deeper networks for expressing natural "
        "functions', ICLR 2018, arXiv:1705.05502."
    ),
    "mehta2014": (
        "P. Mehta and D. J. Schwab, 'An exact mapping between the Variational Renormalization "
        "Group and Deep Learning', arXiv:1410.3831 (2014)."
    ),
    "kadanoff1966": (
        "L. P. Kadanoff, 'Scaling laws for Ising models near T_c', Physics 2:263 (1966)."
    ),
    "nelson1975": (
        "D. R. Nelson and M. E. Fisher, 'Soluble renormalization groups and scaling fields for "
        "low-dimensional Ising systems', Ann. Phys. 91:226 (1975)."
    ),
    "pedregosa2011": (
        "F. Pedregosa et al., 'Scikit-learn: Machine Learning in Python', JMLR 12:2825 (2011) "
        "(PolynomialFeatures, used as the independent monomial count)."
    ),
}


def reference(key: str) -> str:
    """Full reference text for a key (the key itself if unknown)."""
    return REFERENCES.get(key, key)
