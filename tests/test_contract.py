"""Contract suite over the whole experiment registry.

Every registered experiment: its quick preset runs to a computed verdict, the one recorded in
``tests/fixtures/quick_verdicts.json`` (so that a change of verdict shows in the diff); it has at
least one evidence check, lists its deviations from the paper's setup and says in its docstring
what would have refuted the claim; the same seed gives the same numbers (the shared quick
reproduction against one more run); its configurations survive a JSON round trip; every promised
file is written; and the full-preset record lists it with a computed verdict.
"""

from __future__ import annotations

import inspect
import json
import re
from pathlib import Path

import numpy as np
import pytest

from deepscope import store
from deepscope.config import ExperimentConfig, config_digest, config_from_dict, config_to_dict
from deepscope.registry import experiments
from deepscope.results import VERDICTS
from deepscope.runner import load_full_preset_record, run_experiment

SPECS = list(experiments().values())
IDS = [spec.id for spec in SPECS]
CONTRACT_IDS = {"ising1d-decimation", "multiplication-gate", "parameter-counting"}
ROOT = Path(__file__).resolve().parents[1]
QUICK_VERDICTS = json.loads((ROOT / "tests" / "fixtures" / "quick_verdicts.json").read_text())


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
    """Each quick preset run once more with the seed of the shared quick reproduction."""
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
def test_quick_verdict_is_computed_and_recorded(spec, twin_runs):
    _, first, _, second = twin_runs[spec.id]
    assert first["verdict"] in VERDICTS
    assert second["verdict"] == first["verdict"]
    outcomes = {c["name"]: c["outcome"] for c in first["checks"] if c["role"] == "evidence"}
    assert first["verdict"] == QUICK_VERDICTS.get(spec.id), outcomes


def test_quick_verdict_fixture_lists_exactly_the_registry():
    assert sorted(QUICK_VERDICTS) == sorted(IDS)
    assert set(QUICK_VERDICTS.values()) <= set(VERDICTS)


@pytest.mark.parametrize("spec", SPECS, ids=IDS)
def test_evidence_deviations_and_refutation(spec, twin_runs):
    _, first, _, _ = twin_runs[spec.id]
    roles = [c["role"] for c in first["checks"]]
    assert "evidence" in roles, "a check that would fail were the claim false is needed"
    assert roles == sorted(roles), "evidence checks are stored before sanity checks"
    head = next(c for c in first["checks"] if c["name"] == first["headline"])
    assert head["role"] == "evidence"
    assert first["deviations"] and all(isinstance(d, str) and d for d in first["deviations"])
    doc = inspect.getmodule(spec.run).__doc__ or ""
    assert "Refuted by" in doc, f"{spec.id}: the docstring says what would refute the claim"


def test_full_preset_record_lists_every_experiment():
    record = load_full_preset_record()
    assert record.get("preset") == "full" and record.get("seed") == 0
    rows = {row["id"]: row for row in record["claims"]}
    assert sorted(rows) == sorted(IDS)
    for experiment_id, row in rows.items():
        assert row["verdict"] in VERDICTS
        assert row["elapsed_s"] > 0
        full = experiments()[experiment_id].config_cls.full()
        assert row["config_digest"] == config_digest(full), (
            f"{experiment_id}: the full preset changed since the record; rerun it "
            "(deepscope reproduce --full) and update docs/full-preset-results.json"
        )
    host = record["host"]
    assert host["cpu"] and host["date"] and host["commit"]
    on_disk = json.loads((ROOT / "docs" / "full-preset-results.json").read_text())
    assert on_disk == record, "the package ships docs/full-preset-results.json itself"


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
