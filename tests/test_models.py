"""Tests of deepscope.models: the zoo, spec building, user models and checkpoints."""

from __future__ import annotations

import math
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import torch

import deepscope.models as models
from deepscope.errors import UserInputError
from deepscope.models import MLP, DeepLinear, SmallCNN, SmallResNet


def _params_equal(a: torch.nn.Module, b: torch.nn.Module) -> bool:
    sa, sb = a.state_dict(), b.state_dict()
    return sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa)


def test_import_prints_nothing():
    out = subprocess.run(
        [sys.executable, "-c", "import deepscope.models"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert out.stdout == "" and out.stderr == ""


# ----------------------------------------------------------------------------- MLP, DeepLinear

NUMPY_ACTS = {
    "relu": lambda z: np.maximum(z, 0.0),
    "tanh": np.tanh,
    "sigmoid": lambda z: 1.0 / (1.0 + np.exp(-z)),
    "softplus": lambda z: np.log1p(np.exp(z)),
    "gelu": lambda z: 0.5 * z * (1.0 + np.vectorize(math.erf)(z / math.sqrt(2.0))),
    "identity": lambda z: z,
    "linear": lambda z: z,
}


@pytest.mark.parametrize("activation", list(NUMPY_ACTS))
def test_mlp_forward_matches_numpy(activation):
    model = models.build(f"mlp:6-5-4-3,act={activation}", seed=1).double()
    x = np.random.default_rng(0).normal(size=(7, 6))
    h = x
    layers = list(model.layers)
    for i, layer in enumerate(layers):
        W = layer.weight.detach().numpy()
        b = layer.bias.detach().numpy()
        h = h @ W.T + b
        if i < len(layers) - 1:
            h = NUMPY_ACTS[activation](h)
    out = model(torch.from_numpy(x)).detach().numpy()
    np.testing.assert_allclose(out, h, rtol=1e-10, atol=1e-12)


def test_mlp_flattens_and_no_bias():
    model = MLP((64, 10, 3), activation="tanh", bias=False)
    assert all(layer.bias is None for layer in model.layers)
    x = torch.randn(4, 1, 8, 8, generator=torch.Generator().manual_seed(0))
    torch.testing.assert_close(model(x), model(x.reshape(4, 64)))
    assert model(x).shape == (4, 3)


def test_deep_linear_is_product_of_weights():
    model = models.build("linear:5-7-6-4", seed=2).double()
    assert isinstance(model, DeepLinear)
    assert all(layer.bias is None for layer in model.layers)
    mats = [layer.weight.detach().numpy() for layer in model.layers]
    product = mats[2] @ mats[1] @ mats[0]
    x = np.random.default_rng(1).normal(size=(9, 5))
    np.testing.assert_allclose(
        model(torch.from_numpy(x)).detach().numpy(), x @ product.T, rtol=1e-10, atol=1e-12
    )
    np.testing.assert_allclose(model.end_to_end().detach().numpy(), product, rtol=1e-12)


# ----------------------------------------------------------------------------- conv models

CONV_CASES = [
    ("cnn", SmallCNN(1, 10, 8), (5, 1, 8, 8)),
    ("cnn1d", SmallCNN(1, 10, 40, dim=1), (5, 1, 40)),
    ("cnn 3ch rect", SmallCNN(3, 4, (6, 10), channels=(4, 5)), (5, 3, 6, 10)),
    ("resnet", SmallResNet(1, 10, width=8, n_blocks=2), (5, 1, 8, 8)),
    ("resnet1d", SmallResNet(1, 10, width=8, n_blocks=1, dim=1), (5, 1, 40)),
    ("resnet none", SmallResNet(2, 3, width=4, n_blocks=1, norm="none"), (5, 2, 12, 12)),
    ("resnet0", SmallResNet(1, 10, width=4, n_blocks=0, dim=1), (5, 1, 40)),
]


@pytest.mark.parametrize("case", CONV_CASES, ids=[c[0] for c in CONV_CASES])
def test_conv_shapes_and_gradients(case):
    _, model, shape = case
    x = torch.randn(*shape, generator=torch.Generator().manual_seed(0))
    out = model(x)
    assert out.shape == (shape[0], model.n_classes)
    out.square().sum().backward()
    for name, p in model.named_parameters():
        assert p.grad is not None, name
        assert torch.isfinite(p.grad).all(), name
        assert p.grad.abs().sum() > 0, name


def test_resnet_has_residual_blocks_and_norms():
    model = SmallResNet(1, 10, width=8, n_blocks=3)
    assert len(model.blocks) == 3
    assert sum(isinstance(m, torch.nn.BatchNorm2d) for m in model.modules()) == 1 + 2 * 3
    plain = SmallResNet(1, 10, width=8, n_blocks=3, norm="none")
    assert not any(isinstance(m, torch.nn.modules.batchnorm._BatchNorm) for m in plain.modules())


def test_resnet_block_is_identity_plus_residual():
    block = models.BasicBlock(4, dim=2, norm="none")
    with torch.no_grad():
        for conv in (block.conv1, block.conv2):
            conv.weight.zero_()
            conv.bias.zero_()
    x = torch.randn(2, 4, 5, 5, generator=torch.Generator().manual_seed(0))
    torch.testing.assert_close(block(x), torch.relu(x))


def test_conv_models_accept_flat_and_channelless_input():
    cnn = models.build("cnn", input_shape=(64,), n_classes=10)
    x = torch.randn(3, 1, 8, 8, generator=torch.Generator().manual_seed(0))
    torch.testing.assert_close(cnn(x.reshape(3, 64)), cnn(x))
    cnn1d = models.build("cnn1d", input_shape=(40,), n_classes=10)
    s = torch.randn(3, 40, generator=torch.Generator().manual_seed(1))
    torch.testing.assert_close(cnn1d(s), cnn1d(s.unsqueeze(1)))
    res = models.build("resnet:width=4,n_blocks=1", input_shape=(64,), n_classes=10).eval()
    torch.testing.assert_close(res(x.reshape(3, 64)), res(x))


# ----------------------------------------------------------------------------- build, seeds


@pytest.mark.parametrize(
    "spec",
    ["mlp:64-32-10", "linear:10-10-10", "cnn", "cnn1d", "resnet:width=8,n_blocks=1", "resnet1d"],
)
def test_build_deterministic_and_global_rng_untouched(spec):
    state = torch.random.get_rng_state()
    a = models.build(spec, seed=7)
    b = models.build(spec, seed=7)
    c = models.build(spec, seed=8)
    assert torch.equal(state, torch.random.get_rng_state())
    assert _params_equal(a, b)
    assert not _params_equal(a, c)


def test_build_init_bounds():
    model = models.build("mlp:100-50-10", seed=0)
    first = model.layers[0]
    bound = 1 / math.sqrt(100)
    assert first.weight.abs().max() <= bound
    assert first.weight.abs().max() > 0.9 * bound
    assert abs(first.weight.std().item() - bound / math.sqrt(3)) < 0.01


def test_build_uses_data_shape():
    mlp = models.build("mlp:hidden=32-16", input_shape=(1, 8, 8), n_classes=10)
    assert mlp.widths == (64, 32, 16, 10)
    assert models.build("mlp", input_shape=(40,), n_classes=10).widths == (40, 128, 10)
    assert models.build("mlp:40-5-10", input_shape=(40,), n_classes=10).widths == (40, 5, 10)
    cnn = models.build("cnn:channels=4-6", input_shape=(3, 6, 10), n_classes=4)
    assert cnn.in_channels == 3 and cnn.spatial == (6, 10) and cnn.n_classes == 4
    res = models.build("resnet1d:width=4", input_shape=(2, 40), n_classes=3)
    assert res.in_channels == 2 and res.n_classes == 3 and res.dim == 1
    assert models.build("cnn1d:image_size=50").spatial == (50,)
    act = models.build("mlp:8-4-2,activation=gelu,bias=false")
    assert act.activation == "gelu" and act.layers[0].bias is None


BAD_ZOO = {
    "mlp:64-x-10": "malformed item '64-x-10'",
    "mlp:64": "at least 2 widths",
    "mlp:64-0-10": "positive integers",
    "mlp:64-10,act=swish": "unknown activation 'swish'",
    "mlp:64-10,bias=maybe": "bias must be true or false",
    "mlp:64-10,depth=3": "unknown option 'depth' for model 'mlp'",
    "mlp:64-10,act=tanh,act=relu": "given twice",
    "mlp:64-10,": "empty item",
    "mlp": "needs widths",
    "linear:4-4,act=tanh": "unknown option 'act'",
    "transformer": "unknown model 'transformer'; choose one of: mlp",
    "cnn:channels=8": "exactly 2",
    "cnn:channels=a-b": "malformed value",
    "resnet:norm=layer": "unknown norm 'layer'",
    "resnet:width=0": "width must be a positive integer",
    "resnet:n_blocks=-1": "malformed value",
    "resnet1d:in_channels=0": "in_channels must be a positive integer",
    "": "non-empty",
}


@pytest.mark.parametrize("spec", list(BAD_ZOO))
def test_bad_zoo_specs(spec):
    with pytest.raises(UserInputError, match=BAD_ZOO[spec]) as info:
        models.resolve_model(spec)
    assert "\n" not in str(info.value)


def test_spec_contradicting_data():
    with pytest.raises(UserInputError, match="contradicts"):
        models.build("mlp:64-32-10", input_shape=(40,), n_classes=10)
    with pytest.raises(UserInputError, match="contradicts"):
        models.build("mlp:40-32-5", input_shape=(40,), n_classes=10)
    with pytest.raises(UserInputError, match="contradicts"):
        models.build("cnn:in_channels=3", input_shape=(1, 8, 8))
    with pytest.raises(UserInputError, match="conv model needs inputs"):
        models.build("cnn", input_shape=(10,))
    with pytest.raises(UserInputError, match="seed"):
        models.build("cnn", seed=-1)


# ----------------------------------------------------------------------------- user models

USER_MODULE = textwrap.dedent(
    """
    import torch
    from torch import nn

    def make(width=3, n_classes=2):
        return nn.Sequential(nn.Linear(4, width), nn.ReLU(), nn.Linear(width, n_classes))

    def broken():
        raise RuntimeError("no GPU here")

    def not_a_module():
        return 42

    INSTANCE = nn.Linear(2, 2)
    NUMBER = 7

    class Factories:
        @staticmethod
        def tiny(**kwargs):
            return nn.Linear(1, 1)
    """
)


@pytest.fixture()
def user_file(tmp_path):
    path = tmp_path / "my_models.py"
    path.write_text(USER_MODULE)
    return path


def test_load_model_from_file(user_file):
    model = models.load_model(f"{user_file}:make", width=5)
    assert isinstance(model, torch.nn.Sequential) and model[0].out_features == 5
    # generic context kwargs: passed if accepted, dropped otherwise; seed fixes the init
    state = torch.random.get_rng_state()
    a = models.resolve_model(f"{user_file}:make", input_shape=(4,), n_classes=3, seed=1)
    b = models.resolve_model(f"{user_file}:make", input_shape=(4,), n_classes=3, seed=1)
    c = models.resolve_model(f"{user_file}:make", input_shape=(4,), n_classes=3, seed=2)
    assert torch.equal(state, torch.random.get_rng_state())
    assert a[2].out_features == 3
    assert _params_equal(a, b) and not _params_equal(a, c)
    assert isinstance(models.load_model(f"{user_file}:INSTANCE"), torch.nn.Linear)
    assert isinstance(models.load_model(f"{user_file}:Factories.tiny", seed=0), torch.nn.Linear)


def test_load_model_from_module_path(tmp_path, monkeypatch):
    pkg = tmp_path / "userpkg_ds"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "nets.py").write_text(USER_MODULE)
    monkeypatch.syspath_prepend(str(tmp_path))
    model = models.resolve_model("userpkg_ds.nets:make", n_classes=4)
    assert model[2].out_features == 4
    assert isinstance(models.load_model("torch.nn:Identity"), torch.nn.Identity)
    for name in [m for m in sys.modules if m.startswith("userpkg_ds")]:
        monkeypatch.delitem(sys.modules, name)


def test_load_model_errors(user_file, tmp_path):
    cases = {
        "no_such_pkg_xyz.mod:make": "model module not found: 'no_such_pkg_xyz.mod'",
        f"{tmp_path / 'missing.py'}:make": "model file not found",
        f"{user_file}:nothing_here": "has no attribute 'nothing_here'",
        f"{user_file}:broken": "raised RuntimeError: no GPU here",
        f"{user_file}:not_a_module": "returned int, not a torch.nn.Module",
        f"{user_file}:NUMBER": "is not callable",
        f"{user_file}:": "malformed model spec",
        f"{user_file}:1bad": "malformed factory name",
    }
    for spec, fragment in cases.items():
        with pytest.raises(UserInputError, match=fragment) as info:
            models.load_model(spec)
        assert "\n" not in str(info.value)
    with pytest.raises(UserInputError, match="unexpected keyword"):
        models.load_model(f"{user_file}:make", depth=3)
    bad_import = tmp_path / "bad_import.py"
    bad_import.write_text("import no_such_dependency_abc\n")
    with pytest.raises(UserInputError, match="importing model file .* failed: ModuleNotFound"):
        models.load_model(f"{bad_import}:make")


# ----------------------------------------------------------------------------- checkpoints


def test_checkpoint_round_trip(tmp_path):
    source = models.build("mlp:8-6-3,act=tanh", seed=1)
    path = tmp_path / "w.pt"
    torch.save(source.state_dict(), path)
    loaded = models.resolve_model(f"mlp:8-6-3,act=tanh@{path}", seed=99)
    assert _params_equal(source, loaded)
    assert not _params_equal(source, models.build("mlp:8-6-3,act=tanh", seed=99))
    wrapped = tmp_path / "wrapped.pt"
    torch.save({"state_dict": source.state_dict(), "epoch": 3}, wrapped)
    assert _params_equal(source, models.resolve_model(f"mlp:8-6-3,act=tanh@{wrapped}"))
    res = models.build("resnet1d:width=4,n_blocks=1", seed=0)
    torch.save(res.state_dict(), tmp_path / "r.pt")
    res2 = models.resolve_model(f"resnet1d:width=4,n_blocks=1@{tmp_path / 'r.pt'}", seed=5)
    assert _params_equal(res, res2)  # includes BatchNorm buffers


class _Opaque:
    pass


def test_checkpoint_errors(tmp_path, user_file):
    torch.save(models.build("mlp:8-6-3").state_dict(), tmp_path / "w.pt")
    with pytest.raises(UserInputError, match="does not match model 'mlp:8-5-3'.*shape mismatch"):
        models.resolve_model(f"mlp:8-5-3@{tmp_path / 'w.pt'}")
    with pytest.raises(UserInputError, match="missing layers.2.weight"):
        models.resolve_model(f"mlp:8-6-3-3@{tmp_path / 'w.pt'}")
    with pytest.raises(UserInputError, match="unexpected layers.0.bias"):
        models.resolve_model(f"linear:8-6-3@{tmp_path / 'w.pt'}")
    with pytest.raises(UserInputError, match="checkpoint file not found"):
        models.resolve_model(f"mlp:8-6-3@{tmp_path / 'nope.pt'}")
    (tmp_path / "junk.pt").write_bytes(b"junk bytes")
    with pytest.raises(UserInputError, match="cannot read checkpoint"):
        models.resolve_model(f"mlp:8-6-3@{tmp_path / 'junk.pt'}")
    torch.save([1, 2, 3], tmp_path / "list.pt")
    with pytest.raises(UserInputError, match="does not hold a state dict"):
        models.resolve_model(f"mlp:8-6-3@{tmp_path / 'list.pt'}")
    torch.save({"x": _Opaque()}, tmp_path / "pickled.pt")
    with pytest.raises(UserInputError, match="cannot read checkpoint") as info:
        models.resolve_model(f"mlp:8-6-3@{tmp_path / 'pickled.pt'}")
    assert "\n" not in str(info.value)
    with pytest.raises(UserInputError, match="malformed model spec"):
        models.resolve_model("@w.pt")
    user = models.load_model(f"{user_file}:make")
    torch.save(user.state_dict(), tmp_path / "u.pt")
    again = models.resolve_model(f"{user_file}:make@{tmp_path / 'u.pt'}", seed=3)
    assert _params_equal(user, again)


def test_resolve_model_dispatch(user_file):
    assert isinstance(models.resolve_model("mlp:4-2"), MLP)
    assert isinstance(models.resolve_model("Linear:4-2"), DeepLinear)
    assert isinstance(models.resolve_model(f"{user_file}:make"), torch.nn.Sequential)
    with pytest.raises(UserInputError, match="takes only input_shape, n_classes, seed"):
        models.resolve_model("mlp:4-2", width=3)
    with pytest.raises(UserInputError, match="unknown model 'foo'"):
        models.resolve_model("foo")
