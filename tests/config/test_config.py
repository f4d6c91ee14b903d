"""Typed configs: unknown keys and bad values are errors that name the key and the choices."""

from __future__ import annotations


import pytest

from rnnkit.config import (
    ConfigError,
    apply_overrides,
    dump_yaml,
    from_dict,
    list_presets,
    load_source,
    load_yaml,
    parse_override,
    to_dict,
)
from rnnkit.tasks.long_term import LongTermConfig
from rnnkit.training import TrainConfig


def test_defaults_and_nesting():
    config = from_dict(LongTermConfig, {"task": "copy", "train": {"optimizer": {"lr": 0.01}}})
    assert config.task == "copy" and config.train.optimizer.lr == 0.01
    assert config.train.optimizer.name == "adam" and config.model.recurrent.cell == "lstm"


def test_a_section_given_in_part_keeps_its_owners_defaults():
    from rnnkit.tasks.forecast import ForecastConfig

    config = from_dict(ForecastConfig, {"train": {"steps": 10}, "model": {"recurrent": {"cell": "gru"}}})
    assert config.train.steps == 10
    assert config.train.batch_size == 64 and config.train.early_stopping.metric == "val_mase"  # the task's, not TrainConfig's
    assert config.model.recurrent.cell == "gru" and config.model.recurrent.hidden_size == 64  # the forecaster's 64


def test_a_test_metric_cannot_choose():
    with pytest.raises(ConfigError, match="'test_mse' is a test metric.*expected a validation metric such as 'val_mse'"):
        from_dict(LongTermConfig, {"train": {"early_stopping": {"metric": "test_mse"}}})


def test_unknown_key_names_the_choices():
    with pytest.raises(ConfigError, match=r"train.optimizr: unknown key; expected one of \[.*'optimizer'.*\]"):
        from_dict(LongTermConfig, {"train": {"optimizr": {}}})


def test_bad_values_name_the_key_and_what_was_expected():
    with pytest.raises(ConfigError, match=r"model.recurrent.cell: expected one of 'rnn', 'rnn_relu', 'lstm', 'gru', 'mingru', 'minlstm', 'exprnn', got 'transformer'"):
        from_dict(LongTermConfig, {"model": {"recurrent": {"cell": "transformer"}}})
    with pytest.raises(ConfigError, match="train.steps: expected an integer, got 'many'"):
        from_dict(LongTermConfig, {"train": {"steps": "many"}})
    with pytest.raises(ConfigError, match="train.progress: expected true or false, got 1"):
        from_dict(LongTermConfig, {"train": {"progress": 1}})
    with pytest.raises(ConfigError, match=r"train: train.steps: expected a positive integer, got 0"):
        from_dict(LongTermConfig, {"train": {"steps": 0}})
    with pytest.raises(ConfigError, match="train.clip_grad_norm: expected a number or null, got 'x'"):
        from_dict(TrainConfig, {"clip_grad_norm": "x"}, "train")


def test_overrides_by_dotted_path():
    data = {"task": "adding", "train": {"steps": 10}}
    updated = apply_overrides(LongTermConfig, data, ["train.optimizer.lr=3e-4", "model.recurrent.cell=gru", "train.clip_grad_norm=null"])
    config = from_dict(LongTermConfig, updated)
    assert config.train.optimizer.lr == 3e-4 and config.model.recurrent.cell == "gru" and config.train.clip_grad_norm is None
    assert data == {"task": "adding", "train": {"steps": 10}}  # the input is not modified
    with pytest.raises(ConfigError, match=r"--set train.stepz: unknown key; expected one of \[.*'steps'"):
        apply_overrides(LongTermConfig, data, ["train.stepz=5"])
    with pytest.raises(ConfigError, match="--set train.steps.x: train.steps is a value, not a section"):
        apply_overrides(LongTermConfig, data, ["train.steps.x=5"])
    with pytest.raises(ConfigError, match="expected KEY=VALUE"):
        parse_override("train.steps")


def test_round_trip_through_yaml(tmp_path):
    config = from_dict(LongTermConfig, {"task": "copy", "data": {"length": 7}})
    path = dump_yaml(to_dict(config), tmp_path / "config.yaml")
    assert from_dict(LongTermConfig, load_yaml(path)) == config


def test_yaml_errors(tmp_path):
    with pytest.raises(ConfigError, match="no such config file"):
        load_yaml(tmp_path / "missing.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("- a\n- b\n")
    with pytest.raises(ConfigError, match="expected a mapping at the top level, got list"):
        load_yaml(bad)


@pytest.mark.parametrize("name", ["adding", "copy"])
def test_shipped_presets_are_valid(name):
    config = from_dict(LongTermConfig, load_source(name))
    assert config.task == name


@pytest.mark.parametrize("preset", list_presets(), ids=lambda p: p.name)
def test_every_preset_resolves(preset):
    from rnnkit.tasks.core import run

    data = load_yaml(preset.path)
    config = run.resolve_config(data, [])
    assert config.task == data["task"]
    assert to_dict(config)["task"] == data["task"]  # and round-trips to plain data
