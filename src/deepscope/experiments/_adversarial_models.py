"""The models of adversarial-examples and their training: the float64 MLPs (ReLU and tanh),
scikit-learn's multinomial logistic regression frozen as a torch layer, and Adam training with or
without Goodfellow et al.'s adversarial objective alpha CE(x) + (1 - alpha) CE(x + eps sign
grad_x CE). The experiment reproduces Szegedy et al. 2014 (Sec. 4.1, Tables 1-2) and Goodfellow,
Shlens & Szegedy 2015 (Secs. 3-6); torch and scikit-learn are imported inside the functions."""

from __future__ import annotations

import math

from ..robustness import fgsm_direction


def mlp(n_in, hidden, activation, gen):
    """A float64 MLP n_in -> hidden -> 10 with PyTorch's default init drawn from ``gen``."""
    import torch

    act = {"relu": torch.nn.ReLU, "tanh": torch.nn.Tanh}[activation]
    layers, width = [], n_in
    for h in hidden:
        layers += [torch.nn.Linear(width, h), act()]
        width = h
    layers.append(torch.nn.Linear(width, 10))
    net = torch.nn.Sequential(*layers).double()
    with torch.no_grad():
        for layer in net:
            if isinstance(layer, torch.nn.Linear):
                bound = 1.0 / math.sqrt(layer.in_features)
                for p in (layer.weight, layer.bias):
                    p.copy_(torch.empty_like(p).uniform_(-bound, bound, generator=gen))
    return net


def train_logistic(X, y, c):
    """Multinomial logistic regression, scikit-learn's lbfgs (mean CE + ||W||^2 / (2 C N)),
    returned as a frozen float64 torch.nn.Linear."""
    import torch
    from sklearn.linear_model import LogisticRegression

    fit = LogisticRegression(C=c, tol=1e-4, max_iter=500).fit(X.numpy(), y.numpy())
    model = torch.nn.Linear(X.shape[1], 10).double()
    with torch.no_grad():
        model.weight.copy_(torch.from_numpy(fit.coef_))
        model.bias.copy_(torch.from_numpy(fit.intercept_))
    for p in model.parameters():
        p.requires_grad_(False)
    return model


def train_mlp(net, X, y, config, gen, adversarial=False):
    """Adam on minibatches; with ``adversarial``, Goodfellow et al.'s objective
    alpha CE(x) + (1 - alpha) CE(x + eps sign grad_x CE), eps = eps_high, clipped to [0, 1]."""
    import torch

    ce = torch.nn.functional.cross_entropy
    opt = torch.optim.Adam(net.parameters(), lr=config.learning_rate,
                           weight_decay=config.weight_decay)
    n = len(X)
    for _ in range(config.epochs):
        perm = torch.randperm(n, generator=gen)
        for start in range(0, n, config.batch_size):
            idx = perm[start:start + config.batch_size]
            xb, yb = X[idx], y[idx]
            if adversarial:
                xa = (xb + config.eps_high * fgsm_direction(net, xb, yb)).clamp(0.0, 1.0)
                loss = (config.adv_alpha * ce(net(xb), yb)
                        + (1 - config.adv_alpha) * ce(net(xa), yb))
            else:
                loss = ce(net(xb), yb)
            opt.zero_grad()
            loss.backward()
            opt.step()
    for p in net.parameters():
        p.requires_grad_(False)
    return net
