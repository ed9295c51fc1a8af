"""Configuration parsing: --set values, type checks, presets."""

from __future__ import annotations

import dataclasses

import pytest

from deepscope.config import (
    ExperimentConfig,
    config_from_dict,
    config_to_dict,
    parse_set_options,
)
from deepscope.errors import UserInputError


@dataclasses.dataclass(frozen=True)
class Demo(ExperimentConfig):
    n: int = 10
    x: float = 0.5
    flag: bool = False
    name: str = "a"
    lams: tuple[float, ...] = (1.0, 0.1)
    maybe: int | None = None

    QUICK = {"n": 2}


def test_presets():
    assert Demo.full().n == 10
    assert Demo.quick().n == 2
    assert Demo.preset("quick") == Demo.quick()
    with pytest.raises(UserInputError, match="unknown preset"):
        Demo.preset("medium")


def test_parse_set_json_and_strings():
    values = parse_set_options(["n=3", "x=1e-3", "flag=true", "name=hello", "lams=[0.3, 0.03]"])
    assert values == {"n": 3, "x": 1e-3, "flag": True, "name": "hello", "lams": [0.3, 0.03]}


@pytest.mark.parametrize("item", ["novalue", "=3", "a b=1", ""])
def test_malformed_set(item):
    with pytest.raises(UserInputError, match="malformed --set"):
        parse_set_options([item])


def test_from_dict_coerces_and_checks():
    cfg = config_from_dict(Demo, {"n": "4", "x": 2, "lams": "0.5,0.25", "maybe": 7})
    assert cfg == Demo(n=4, x=2.0, lams=(0.5, 0.25), maybe=7)
    assert isinstance(cfg.x, float)


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"m": 1}, "unknown config key 'm'"),
        ({"n": "three"}, "expects an integer"),
        ({"n": 2.5}, "expects an integer"),
        ({"n": True}, "expects an integer"),
        ({"x": "fast"}, "expects a number"),
        ({"x": "nan"}, "must be finite"),
        ({"flag": "maybe"}, "expects true or false"),
        ({"name": 3}, "expects a string"),
        ({"lams": {"a": 1}}, "expects a list"),
    ],
)
def test_bad_values(values, message):
    with pytest.raises(UserInputError, match=message):
        config_from_dict(Demo, values)


def test_json_round_trip():
    import json

    cfg = Demo(n=5, lams=(0.3,), maybe=None)
    again = config_from_dict(Demo, json.loads(json.dumps(config_to_dict(cfg))))
    assert again == cfg
