"""Bibliography: citation keys used by experiments, env.json and the report."""

from __future__ import annotations

REFERENCES: dict[str, str] = {
    "goodfellow2015": (
        "I. J. Goodfellow, O. Vinyals and A. M. Saxe, 'Qualitatively characterizing neural "
        "network optimization problems', ICLR 2015, arXiv:1412.6544."
    ),
    "li2018": (
        "H. Li, Z. Xu, G. Taylor, C. Studer and T. Goldstein, 'Visualizing the loss landscape of "
        "neural nets', NeurIPS 2018, arXiv:1712.09913."
    ),
    "garipov2018": (
        "T. Garipov, P. Izmailov, D. Podoprikhin, D. Vetrov and A. G. Wilson, 'Loss surfaces, "
        "mode connectivity, and fast ensembling of DNNs', NeurIPS 2018, arXiv:1802.10026."
    ),
    "keskar2017": (
        "N. S. Keskar, D. Mudigere, J. Nocedal, M. Smelyanskiy and P. T. P. Tang, 'On large-batch "
        "training for deep learning: generalization gap and sharp minima', ICLR 2017."
    ),
    "dinh2017": (
        "L. Dinh, R. Pascanu, S. Bengio and Y. Bengio, 'Sharp minima can generalize for deep "
        "nets', ICML 2017, arXiv:1703.04933."
    ),
    "foret2021": (
        "P. Foret, A. Kleiner, H. Mobahi and B. Neyshabur, 'Sharpness-aware minimization for "
        "efficiently improving generalization', ICLR 2021, arXiv:2010.01412."
    ),
    "kwon2021": (
        "J. Kwon, J. Kim, H. Park and I. K. Choi, 'ASAM: adaptive sharpness-aware minimization "
        "for scale-invariant learning of deep neural networks', ICML 2021, arXiv:2102.11600."
    ),
    "pearlmutter1994": (
        "B. A. Pearlmutter, 'Fast exact multiplication by the Hessian', "
        "Neural Comput. 6:147 (1994)."
    ),
    "schraudolph2002": (
        "N. N. Schraudolph, 'Fast curvature matrix-vector products for second-order gradient "
        "descent', Neural Comput. 14:1723 (2002)."
    ),
    "lanczos1950": (
        "C. Lanczos, 'An iteration method for the solution of the eigenvalue problem of linear "
        "differential and integral operators', J. Res. Natl. Bur. Stand. 45:255 (1950)."
    ),
    "meyer2021": (
        "R. A. Meyer, C. Musco, C. Musco and D. P. Woodruff, 'Hutch++: optimal stochastic trace "
        "estimation', SOSA 2021, arXiv:2010.09649."
    ),
    "ubaru2017": (
        "S. Ubaru, J. Chen and Y. Saad, 'Fast estimation of tr(f(A)) via stochastic Lanczos "
        "quadrature', SIAM J. Matrix Anal. Appl. 38:1075 (2017)."
    ),
    "ghorbani2019": (
        "B. Ghorbani, S. Krishnan and Y. Xiao, 'An investigation into neural net optimization via "
        "Hessian eigenvalue density', ICML 2019, arXiv:1901.10159."
    ),
    "lin2017": (
        "H. W. Lin, M. Tegmark and D. Rolnick, 'Why does deep and cheap learning work so well?', "
        "J. Stat. Phys. 168:1223-1247 (2017), arXiv:1608.08225."
    ),
    "rolnick2018": (
        "D. Rolnick and M. Tegmark, 'The power of deeper networks for expressing natural "
        "functions', ICLR 2018, arXiv:1705.05502."
    ),
    "schwab2016": (
        "D. J. Schwab and P. Mehta, 'Comment on \"Why does deep and cheap learning work so "
        "well?\"', arXiv:1609.03541 (2016)."
    ),
    "mhaskar2016": (
        "H. N. Mhaskar, Q. Liao and T. Poggio, 'Learning functions: when is deep better than "
        "shallow', arXiv:1603.00988 (2016)."
    ),
    "poggio2017": (
        "T. Poggio, H. Mhaskar, L. Rosasco, B. Miranda and Q. Liao, 'Why and when can deep - but "
        "not shallow - networks avoid the curse of dimensionality: a review', Int. J. Autom. "
        "Comput. 14:503 (2017), arXiv:1611.00740."
    ),
    "mehta2014": (
        "P. Mehta and D. J. Schwab, 'An exact mapping between the Variational Renormalization "
        "Group and Deep Learning', arXiv:1410.3831 (2014)."
    ),
    "kadanoff1966": (
        "L. P. Kadanoff, 'Scaling laws for Ising models near T_c', Physics 2:263 (1966)."
    ),
    "onsager1944": (
        "L. Onsager, 'Crystal statistics. I. A two-dimensional model with an order-disorder "
        "transition', Phys. Rev. 65:117 (1944)."
    ),
    "yang1952": (
        "C. N. Yang, 'The spontaneous magnetization of a two-dimensional Ising model', "
        "Phys. Rev. 85:808 (1952)."
    ),
    "binder1981": (
        "K. Binder, 'Finite size scaling analysis of Ising model block distribution functions', "
        "Z. Phys. B 43:119 (1981)."
    ),
    "wolff1989": (
        "U. Wolff, 'Collective Monte Carlo updating for spin systems', Phys. Rev. Lett. 62:361 "
        "(1989)."
    ),
    "sokal1989": (
        "A. D. Sokal, 'Monte Carlo methods in statistical mechanics: foundations and new "
        "algorithms', Cours de Troisieme Cycle, Lausanne (1989); N. Madras and A. D. Sokal, "
        "J. Stat. Phys. 50:109 (1988)."
    ),
    "migdal1976": (
        "A. A. Migdal, 'Phase transitions in gauge and spin-lattice systems', Sov. Phys. JETP "
        "42:743 (1976)."
    ),
    "kadanoff1976": (
        "L. P. Kadanoff, 'Notes on Migdal's recursion formulas', Ann. Phys. 100:359 (1976)."
    ),
    "swendsen1979": (
        "R. H. Swendsen, 'Monte Carlo renormalization group', Phys. Rev. Lett. 42:859 (1979)."
    ),
    "hinton2002": (
        "G. E. Hinton, 'Training products of experts by minimizing contrastive divergence', "
        "Neural Comput. 14:1771 (2002)."
    ),
    "kochjanusz2018": (
        "M. Koch-Janusz and Z. Ringel, 'Mutual information, neural networks and the "
        "renormalization group', Nature Physics 14:578 (2018), arXiv:1704.06279."
    ),
    "miller1955": (
        "G. A. Miller, 'Note on the bias of information estimates', in Information Theory in "
        "Psychology, Free Press (1955) (the Miller-Madow correction)."
    ),
    "nelson1975": (
        "D. R. Nelson and M. E. Fisher, 'Soluble renormalization groups and scaling fields for "
        "low-dimensional Ising systems', Ann. Phys. 91:226 (1975)."
    ),
    "pedregosa2011": (
        "F. Pedregosa et al., 'Scikit-learn: Machine Learning in Python', JMLR 12:2825 (2011) "
        "(PolynomialFeatures, used as the independent monomial count)."
    ),
    "baldi1989": (
        "P. Baldi and K. Hornik, 'Neural networks and principal component analysis: learning from "
        "examples without local minima', Neural Networks 2:53-58 (1989)."
    ),
    "kawaguchi2016": (
        "K. Kawaguchi, 'Deep learning without poor local minima', NeurIPS 2016, "
        "arXiv:1605.07110."
    ),
    "lu2017": (
        "H. Lu and K. Kawaguchi, 'Depth creates no bad local minima', arXiv:1702.08580 (2017)."
    ),
    "ge2015": (
        "R. Ge, F. Huang, C. Jin and Y. Yuan, 'Escaping from saddle points: online stochastic "
        "gradient for tensor decomposition', COLT 2015, arXiv:1503.02101."
    ),
    "jin2017": (
        "C. Jin, R. Ge, P. Netrapalli, S. M. Kakade and M. I. Jordan, 'How to escape saddle "
        "points efficiently', ICML 2017, arXiv:1703.00887."
    ),
    "sun2015": (
        "J. Sun, Q. Qu and J. Wright, 'When are nonconvex problems not scary?', "
        "arXiv:1510.06096 (2015)."
    ),
    "sagun2017": (
        "L. Sagun, U. Evci, V. U. Guney, Y. Dauphin and L. Bottou, 'Empirical analysis of the "
        "Hessian of over-parametrized neural networks', ICLR 2018 workshop, arXiv:1706.04454."
    ),
    "pennington2017": (
        "J. Pennington and Y. Bahri, 'Geometry of neural network loss surfaces via random matrix "
        "theory', ICML 2017."
    ),
    "blum1992": (
        "A. L. Blum and R. L. Rivest, 'Training a 3-node neural network is NP-complete', "
        "Neural Networks 5:117-127 (1992)."
    ),
    "cohen2021": (
        "J. M. Cohen, S. Kaur, Y. Li, J. Z. Kolter and A. Talwalkar, 'Gradient descent on neural "
        "networks typically occurs at the edge of stability', ICLR 2021, arXiv:2103.00065."
    ),
    "choromanska2015": (
        "A. Choromanska, M. Henaff, M. Mathieu, G. Ben Arous and Y. LeCun, 'The loss surfaces of "
        "multilayer networks', AISTATS 2015, arXiv:1412.0233."
    ),
    "auffinger2013": (
        "A. Auffinger, G. Ben Arous and J. Cerny, 'Random matrices and complexity of spin "
        "glasses', Comm. Pure Appl. Math. 66:165-201 (2013), arXiv:1003.1129."
    ),
    "dauphin2014": (
        "Y. N. Dauphin, R. Pascanu, C. Gulcehre, K. Cho, S. Ganguli and Y. Bengio, 'Identifying "
        "and attacking the saddle point problem in high-dimensional non-convex optimization', "
        "NeurIPS 2014, arXiv:1406.2572."
    ),
    "bray2007": (
        "A. J. Bray and D. S. Dean, 'Statistics of critical points of Gaussian fields on "
        "large-dimensional spaces', Phys. Rev. Lett. 98:150201 (2007)."
    ),
    "sagun2016": (
        "L. Sagun, L. Bottou and Y. LeCun, 'Eigenvalues of the Hessian in deep learning: "
        "singularity and beyond', arXiv:1611.07476 (2016)."
    ),
    "papyan2019": (
        "V. Papyan, 'Measurements of three-level hierarchical structure in the outliers in the "
        "spectrum of deepnet Hessians', ICML 2019, arXiv:1901.08244."
    ),
    "papyan2020": (
        "V. Papyan, 'Traces of class/cross-class structure pervade deep learning spectra', "
        "JMLR 21(252):1-64 (2020), arXiv:2008.11865."
    ),
    "hochreiter1997": (
        "S. Hochreiter and J. Schmidhuber, 'Flat minima', Neural Computation 9(1):1-42 (1997)."
    ),
    "bekas2007": (
        "C. Bekas, E. Kokiopoulou and Y. Saad, 'An estimator for the diagonal of a matrix', "
        "Applied Numerical Mathematics 57:1214-1229 (2007)."
    ),
    "hutchinson1989": (
        "M. F. Hutchinson, 'A stochastic estimator of the trace of the influence matrix for "
        "Laplacian smoothing splines', Comm. Statist. Simulation Comput. 18:1059-1076 (1989)."
    ),
    "martens2010": (
        "J. Martens, 'Deep learning via Hessian-free optimization', ICML 2010."
    ),
    "dangel2020": (
        "F. Dangel, F. Kunstner and P. Hennig, 'BackPACK: packing more into backprop', ICLR 2020, "
        "arXiv:1912.10985."
    ),
    "mallat2012": (
        "S. Mallat, 'Group invariant scattering', Comm. Pure Appl. Math. 65:1331-1398 (2012), "
        "arXiv:1101.2286."
    ),
    "bruna2013": (
        "J. Bruna and S. Mallat, 'Invariant scattering convolution networks', IEEE Trans. "
        "Pattern Anal. Mach. Intell. 35:1872-1886 (2013), arXiv:1203.1513."
    ),
    "anden2014": (
        "J. Anden and S. Mallat, 'Deep scattering spectrum', IEEE Trans. Signal Process. "
        "62:4114-4128 (2014), arXiv:1304.6763."
    ),
    "andreux2020": (
        "M. Andreux et al., 'Kymatio: scattering transforms in Python', JMLR 21(60):1-6 (2020)."
    ),
    "olshausen1996": (
        "B. A. Olshausen and D. J. Field, 'Emergence of simple-cell receptive field properties by "
        "learning a sparse code for natural images', Nature 381:607-609 (1996)."
    ),
    "mairal2010": (
        "J. Mairal, F. Bach, J. Ponce and G. Sapiro, 'Online learning for matrix factorization "
        "and sparse coding', JMLR 11:19-60 (2010)."
    ),
    "szegedy2014": (
        "C. Szegedy, W. Zaremba, I. Sutskever, J. Bruna, D. Erhan, I. Goodfellow and R. Fergus, "
        "'Intriguing properties of neural networks', ICLR 2014, arXiv:1312.6199."
    ),
    "goodfellow2015adv": (
        "I. J. Goodfellow, J. Shlens and C. Szegedy, 'Explaining and harnessing adversarial "
        "examples', ICLR 2015, arXiv:1412.6572."
    ),
    "erhan2009": (
        "D. Erhan, Y. Bengio, A. Courville and P. Vincent, 'Visualizing higher-layer features of "
        "a deep network', Technical Report 1341, Universite de Montreal (2009)."
    ),
    "simonyan2014": (
        "K. Simonyan, A. Vedaldi and A. Zisserman, 'Deep inside convolutional networks: "
        "visualising image classification models and saliency maps', ICLR 2014 workshop, "
        "arXiv:1312.6034."
    ),
    "rosenblatt1958": (
        "F. Rosenblatt, 'The perceptron: a probabilistic model for information storage and "
        "organization in the brain', Psychological Review 65:386-408 (1958)."
    ),
    "novikoff1962": (
        "A. B. J. Novikoff, 'On convergence proofs on perceptrons', Symposium on the Mathematical "
        "Theory of Automata 12:615-622 (1962)."
    ),
    "minsky1969": (
        "M. Minsky and S. Papert, 'Perceptrons: an introduction to computational geometry', "
        "MIT Press (1969)."
    ),
    "rumelhart1986": (
        "D. E. Rumelhart, G. E. Hinton and R. J. Williams, 'Learning representations by "
        "back-propagating errors', Nature 323:533-536 (1986)."
    ),
    "lee2001": (
        "A. B. Lee, D. Mumford and J. Huang, 'Occlusion models for natural images: a statistical "
        "study of a scale-invariant dead leaves model', Int. J. Comput. Vision 41:35-59 (2001)."
    ),
}


def reference(key: str) -> str:
    """Full reference text for a key (the key itself if unknown)."""
    return REFERENCES.get(key, key)
