"""config.json of either layout, including transformers 5's `rope_parameters` spelling."""

from __future__ import annotations

import pytest

from gossamer.errors import CheckpointError
from gossamer.model.config import PRESETS, config_from_dict


def test_both_layouts_describe_the_same_model():
    config = PRESETS["20b"]
    assert config_from_dict(config.to_original_json()) == config
    assert config_from_dict(config.to_hf_json()) == config


def test_transformers_5_rope_parameters():
    raw = PRESETS["tiny"].to_hf_json()
    rope = raw.pop("rope_scaling")
    rope["rope_theta"] = raw.pop("rope_theta")
    raw["rope_parameters"] = rope
    assert config_from_dict(raw) == PRESETS["tiny"]


def test_yarn_truncation_defaults_as_in_transformers():
    raw = PRESETS["tiny"].to_hf_json()
    del raw["rope_scaling"]["truncate"]
    assert config_from_dict(raw).rope_truncate  # transformers' default when the key is absent
    assert not config_from_dict(PRESETS["tiny"].to_original_json()).rope_truncate


def test_missing_rope_theta_is_named():
    raw = PRESETS["tiny"].to_hf_json()
    del raw["rope_theta"]
    with pytest.raises(CheckpointError, match="missing field 'rope_theta'"):
        config_from_dict(raw, "x/config.json")


def test_rope_type_must_be_yarn():
    raw = PRESETS["tiny"].to_hf_json()
    raw["rope_scaling"]["rope_type"] = "linear"
    with pytest.raises(CheckpointError, match="rope_type"):
        config_from_dict(raw)
