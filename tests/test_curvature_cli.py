"""`deepscope hessian`: results against a dense Hessian, files written, bad input refused."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from torch import nn

from deepscope.cli import main


def dense_hessian(model, X, y):
    names = [n for n, _ in model.named_parameters()]
    named = dict(model.named_parameters())
    shapes = [named[n].shape for n in names]
    sizes = [named[n].numel() for n in names]
    flat0 = torch.cat([named[n].detach().reshape(-1) for n in names])

    def f(flat):
        params = {n: t.reshape(s) for n, t, s in zip(names, torch.split(flat, sizes), shapes)}
        return nn.functional.cross_entropy(torch.func.functional_call(model, params, (X,)), y)

    return torch.autograd.functional.hessian(f, flat0)


def test_hessian_command_matches_dense(tmp_path, capsys):
    from deepscope.data import load
    from deepscope.models import build

    out = tmp_path / "h"
    args = ["hessian", "--model", "mlp:64-6-10,act=tanh", "--data", "digits", "--max-samples",
            "150", "--batch-size", "64", "--top-k", "3", "--bottom-k", "2", "--trace",
            "--density", "--out", str(out)]
    assert main(args) == 0
    record = json.loads((out / "result.json").read_text())
    assert record["n_params"] == 64 * 6 + 6 + 6 * 10 + 10 and record["n_batches"] == 3
    assert record["path"] == "HessianOperator:pearlmutter"  # a tanh MLP: the R-operator

    data = load("digits", seed=0)
    model = build("mlp:64-6-10,act=tanh", input_shape=data.input_shape, n_classes=10,
                  seed=0).double()
    X = torch.as_tensor(data.X_train[:150]).double()
    y = torch.as_tensor(data.y_train[:150]).long()
    H = dense_hessian(model, X, y)
    evals = torch.linalg.eigvalsh(H).numpy()
    np.testing.assert_allclose(record["top_eigenvalues"]["values"], evals[::-1][:3], rtol=1e-6)
    np.testing.assert_allclose(record["bottom_eigenvalues"]["values"], evals[:2], rtol=1e-6,
                               atol=1e-9)
    assert all(record["top_eigenvalues"]["converged"])
    tr = record["trace"]
    assert abs(tr["value"] - float(torch.trace(H))) <= 4 * tr["stderr"] + 1e-9
    for name in ("eigenvalues", "spectral_density"):
        assert (out / "figures" / f"{name}.png").stat().st_size > 1000
    with np.load(out / "arrays.npz", allow_pickle=False) as arrays:
        grid, density = arrays["density_grid"], arrays["density"]
        assert abs(np.trapezoid(density, grid) - 1) < 1e-6
    env = json.loads((out / "env.json").read_text())
    assert env["seed"] == 0 and "pearlmutter1994" in env["citations"]


@pytest.mark.parametrize(
    ("extra", "fragment"),
    [
        (["--model", "mlp:64-x-10", "--data", "digits"], "mlp"),
        (["--model", "mlp:64-8-10", "--data", "nope"], "nope"),
        (["--model", "mlp:64-8-10", "--data", "digits", "--params", "zzz*"], "matches no"),
        (["--model", "mlp:64-8-10", "--data", "digits", "--top-k", "0"], "nothing to compute"),
        (["--model", "mlp", "--data", "teacher-student"], "classification"),
    ],
)
def test_hessian_command_bad_input(tmp_path, capsys, extra, fragment):
    out = tmp_path / "h"
    status = main(["hessian", *extra, "--max-samples", "20", "--out", str(out)])
    err = capsys.readouterr().err.strip()
    assert status == 2, err
    assert err.count("\n") == 0 and fragment in err
    assert not out.exists()
