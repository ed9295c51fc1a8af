"""FGSM, the linear explanation and minimal L-BFGS distortions, against closed forms."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch

from conftest import quick_verdict
from deepscope.errors import UserInputError
from deepscope.experiments import adversarial_examples as ae


def test_train_logistic_matches_scikit_learn_predictions():
    from sklearn.linear_model import LogisticRegression

    from deepscope.data import digits

    data = digits(seed=1, test_fraction=0.3)
    X = torch.tensor(data.X_train, dtype=torch.float64)
    model = ae.train_logistic(X, torch.tensor(data.y_train), 10.0)
    ref = LogisticRegression(C=10.0, tol=1e-4, max_iter=500).fit(data.X_train.astype(float),
                                                                  data.y_train)
    with torch.no_grad():
        pred = model(torch.tensor(data.X_test, dtype=torch.float64)).argmax(1).numpy()
    assert np.mean(pred == ref.predict(data.X_test.astype(float))) >= 0.99


@pytest.mark.parametrize("change", [{"n_seeds": 1}, {"eps_low": 0.3}, {"lr_c_strong": 20.0},
                                    {"sides": (4, 16, 32)}, {"adv_alpha": 1.0},
                                    {"lbfgs_c_range": (1.0, 0.1)}])
def test_config_validation(change):
    with pytest.raises(UserInputError):
        dataclasses.replace(ae.Config.quick(), **change).validate()


@pytest.fixture(scope="module")
def quick_result():
    return ae.run(ae.Config.quick(), np.random.default_rng(0))


def test_quick_preset_checks_computed(quick_result):
    r = quick_result
    names = {c.name for c in r.checks}
    assert {"fgsm_own_error", "fgsm_transfer", "random_sign_far_less_harmful",
            "linear_ratio_slope", "adversarial_training_reduces_error",
            "lbfgs_fools_every_model", "lbfgs_distortion_small"} <= names
    assert r.headline == "fgsm_own_error"
    assert r.verdict == quick_verdict("adversarial-examples")
    assert all(c.stderr is not None for c in r.checks if c.kind == "statistical")
    assert r.deviations and set(r.figures) == {"fgsm_error_vs_eps", "linear_explanation",
                                               "minimal_distortion"}
    # FGSM at eps = 0 is the clean error; the error grows with eps for every model.
    err = r.arrays["fgsm_cross_error"]
    own = np.diagonal(err, axis1=2, axis2=3)
    assert np.allclose(own[:, 0], r.arrays["clean_error"][:, :3])
    assert np.all(own[:, -1] >= own[:, 0])
