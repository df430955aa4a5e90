"""Model names: every spelling users type lands on the right kind of model, without the network."""

from __future__ import annotations

import pytest

from gossamer.hub import UnknownModel, parse_model_name
from gossamer.hub.names import ModelKind
from gossamer.hub.store import register


@pytest.mark.parametrize(
    ("name", "repo_id"),
    [
        ("gpt-oss-20b", "openai/gpt-oss-20b"),
        ("gpt-oss:20b", "openai/gpt-oss-20b"),
        ("GPT-OSS-20B", "openai/gpt-oss-20b"),
        ("gpt-oss", "openai/gpt-oss-20b"),
        ("openai/gpt-oss-20b", "openai/gpt-oss-20b"),
        ("gpt-oss-120b", "openai/gpt-oss-120b"),
        ("gpt-oss:120b", "openai/gpt-oss-120b"),
        ("unsloth/gpt-oss-20b-BF16", "unsloth/gpt-oss-20b-BF16"),
    ],
)
def test_hub_names(name, repo_id, store_env):
    ref = parse_model_name(name)
    assert (ref.kind, ref.repo_id) == (ModelKind.HUB, repo_id)


def test_embedded_local_and_registered(store_env, tmp_path):
    assert parse_model_name("gossamer-tiny").kind is ModelKind.EMBEDDED
    directory = tmp_path / "weights"
    directory.mkdir()
    ref = parse_model_name(str(directory))
    assert (ref.kind, ref.path, ref.name) == (ModelKind.LOCAL, directory, "weights")
    register("my-model", directory)
    assert parse_model_name("my-model").path == directory


@pytest.mark.parametrize("name", ["llama3", "", "a/b/c", "./missing-dir", "gpt oss"])
def test_unknown_names_say_what_is_accepted(name, store_env):
    with pytest.raises(UnknownModel) as info:
        parse_model_name(name)
    message = str(info.value)
    assert "no model name" in message or "no such model directory" in message or "gpt-oss-20b" in message
