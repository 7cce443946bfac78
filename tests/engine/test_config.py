"""The typed config: nanoGPT's knobs from plain data, files and --key=value."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from worker.engine.config.files import load_config_file
from worker.engine.config.presets import PRESET_DESCRIPTIONS, PRESETS, preset_config
from worker.engine.config.train_config import TrainConfig, parse_overrides
from worker.engine.errors import ConfigError


def test_defaults_are_nanogpts_train_py() -> None:
    cfg = TrainConfig()
    assert (cfg.n_layer, cfg.n_head, cfg.n_embd, cfg.block_size) == (12, 12, 768, 1024)
    assert (cfg.learning_rate, cfg.max_iters, cfg.beta2, cfg.min_lr) == (6e-4, 600000, 0.95, 6e-5)
    assert cfg.tokens_per_iter == 40 * 12 * 1024


def test_values_are_coerced_from_strings() -> None:
    cfg = TrainConfig.from_mapping(
        {"n_layer": "4", "dropout": "0.1", "bias": "true", "compile": "false", "max_iters": 2e3}
    )
    assert (cfg.n_layer, cfg.dropout, cfg.bias, cfg.compile, cfg.max_iters) == (
        4, 0.1, True, False, 2000,
    )  # fmt: skip


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [("n_layer", "four", "integer"), ("n_layer", 2.5, "integer"), ("dropout", "x", "number"),
     ("bias", "maybe", "true or false"), ("n_layer", True, "integer"), ("compile", 3, "compile")],
)  # fmt: skip
def test_wrong_types_name_the_field(key: str, value: object, message: str) -> None:
    with pytest.raises(ConfigError, match=message) as caught:
        TrainConfig.from_mapping({key: value})
    assert caught.value.field == key


def test_unknown_keys_are_refused() -> None:
    with pytest.raises(ConfigError, match="unknown setting 'n_layers'") as caught:
        TrainConfig.from_mapping({"n_layers": 4})
    assert caught.value.field == "n_layers"


def test_toml_and_json_files_are_read_as_data(tmp_path: Path) -> None:
    toml = tmp_path / "run.toml"
    toml.write_text('n_layer = 3\nlearning_rate = 1e-3\ndevice = "cpu"\n')
    assert TrainConfig.from_mapping(load_config_file(toml)).n_layer == 3
    js = tmp_path / "run.json"
    js.write_text(json.dumps({"n_head": 2}))
    assert TrainConfig.from_mapping(load_config_file(js)).n_head == 2


def test_broken_or_unknown_files_say_why(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text("n_layer = = 3")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_config_file(bad)
    with pytest.raises(ConfigError, match="cannot read"):
        load_config_file(tmp_path / "absent.toml")
    yaml = tmp_path / "run.yaml"
    yaml.write_text("n_layer: 3")
    with pytest.raises(ConfigError, match=r"\.toml or \.json"):
        load_config_file(yaml)


def test_overrides_parse_like_nanogpt() -> None:
    assert parse_overrides(["--n_layer=4", "--start=a=b"]) == {"n_layer": "4", "start": "a=b"}
    with pytest.raises(ConfigError, match="expected --key=value"):
        parse_overrides(["--n_layer", "4"])


def test_presets_build_valid_configs() -> None:
    assert set(PRESETS) <= set(PRESET_DESCRIPTIONS)
    tiny = preset_config("tiny-cpu", {"max_iters": 10})
    assert (tiny.n_layer, tiny.n_embd, tiny.block_size, tiny.max_iters) == (4, 128, 64, 10)
    assert preset_config("shakespeare-char").n_embd == 384
    with pytest.raises(ConfigError, match="unknown preset") as caught:
        preset_config("huge")
    assert caught.value.field == "preset"
