"""Contract suite over the whole experiment registry.

Every registered experiment: its quick preset runs and is reproduced, the same seed gives the same
numbers (the session's quick reproduction against one more run), its configurations survive a
JSON round trip, and every promised file is written.
"""

from __future__ import annotations

import json
import re

import numpy as np
import pytest

from deepscope import store
from deepscope.config import ExperimentConfig, config_from_dict, config_to_dict
from deepscope.registry import experiments
from deepscope.runner import run_experiment

SPECS = list(experiments().values())
IDS = [spec.id for spec in SPECS]
CONTRACT_IDS = {"ising1d-decimation", "multiplication-gate", "parameter-counting"}


def test_contract_ids_registered():
    assert CONTRACT_IDS <= set(IDS)
    for experiment_id in IDS:
        assert re.fullmatch(r"[a-z0-9]+(-[a-z0-9]+)*", experiment_id)


@pytest.mark.parametrize("spec", SPECS, ids=IDS)
def test_spec_is_complete(spec):
    assert issubclass(spec.config_cls, ExperimentConfig)
    assert spec.title and spec.claim and spec.source and spec.statement and spec.formula
    assert spec.citations
    from deepscope.citations import REFERENCES

    assert set(spec.citations) <= set(REFERENCES)


@pytest.mark.parametrize("spec", SPECS, ids=IDS)
@pytest.mark.parametrize("preset", ["quick", "full"])
def test_config_json_round_trip(spec, preset):
    config = spec.config_cls.preset(preset)
    text = json.dumps(config_to_dict(config))
    assert config_from_dict(spec.config_cls, json.loads(text)) == config
    hash(config)  # frozen


@pytest.fixture(scope="module")
def twin_runs(quick_reproduction, tmp_path_factory):
    """Each quick preset run once more with the seed of the session's quick reproduction."""
    runs = {}
    first_dir = quick_reproduction["out"]
    for spec in SPECS:
        base = tmp_path_factory.mktemp(spec.id)
        config = spec.config_cls.quick()
        second = run_experiment(spec, config, seed=0, out=base / "b", preset="quick")
        first = store.load_run(first_dir / spec.id)["result"]
        runs[spec.id] = (first_dir / spec.id, first, base / "b", second)
    return runs


@pytest.mark.parametrize("spec", SPECS, ids=IDS)
def test_quick_preset_reproduces_claim(spec, twin_runs):
    _, first, _, _ = twin_runs[spec.id]
    failing = [c["name"] for c in first["checks"] if c["outcome"] != "pass"]
    assert first["verdict"] == "reproduced", failing


@pytest.mark.parametrize("spec", SPECS, ids=IDS)
def test_same_seed_same_numbers(spec, twin_runs):
    dir_a, first, dir_b, second = twin_runs[spec.id]
    assert first == second
    a, b = store.load_arrays(dir_a), store.load_arrays(dir_b)
    assert a.keys() == b.keys()
    for key in a:
        np.testing.assert_array_equal(a[key], b[key])


@pytest.mark.parametrize("spec", SPECS, ids=IDS)
def test_promised_files_exist(spec, twin_runs):
    _, _, run_dir, record = twin_runs[spec.id]
    stored = store.load_run(run_dir)
    assert stored["result"] == record
    config = stored["config"]
    assert config["experiment"] == spec.id and config["seed"] == 0 and config["preset"] == "quick"
    env = stored["env"]
    for key in ("deepscope_version", "git", "python", "torch", "numpy", "device", "torch_threads",
                "seed", "command_line", "citations", "elapsed_s"):
        assert key in env, key
    assert set(env["citations"]) == set(spec.citations)
    assert record["figures"], "every experiment draws at least one figure"
    for name in record["figures"]:
        for ext in ("png", "svg"):
            path = run_dir / "figures" / f"{name}.{ext}"
            assert path.is_file() and path.stat().st_size > 1000
    if record["arrays"]:
        with np.load(run_dir / "arrays.npz", allow_pickle=False) as data:
            assert sorted(data.files) == record["arrays"]
    assert not list(run_dir.parent.glob(".*partial*")), "no partial directory left behind"
    assert record["verdict"] in ("reproduced", "not_reproduced", "inconclusive")
