"""Upstream lists and files: what `--upstream` and `--upstream-config` accept, and what they refuse."""

from __future__ import annotations

import os

import pytest

from gossamer.server.settings import ServerSettings, add_arguments, settings_from_args
from gossamer.upstream.config import UpstreamConfigError, UpstreamSpec, fleet_config, parse_upstream


def test_urls_kinds_and_the_v1_habit():
    assert parse_upstream("vllm+http://gpu-1:8000/v1/") == UpstreamSpec("http://gpu-1:8000", "vllm")
    assert parse_upstream("gpu-2:30000") == UpstreamSpec("http://gpu-2:30000", None)
    assert parse_upstream("https://lb.example/gossamer").url == "https://lb.example/gossamer"
    assert parse_upstream("sglang+http://h:1").label == "h:1"
    for bad in ("ftp://h:1", "http://", "http://h:port"):
        with pytest.raises(UpstreamConfigError):
            parse_upstream(bad)


def test_a_config_file_with_keys_from_the_environment(tmp_path):
    path = tmp_path / "fleet.toml"
    path.write_text(
        'health_interval_s = 2\nbalance_abs_tokens = 100\n'
        '[[upstream]]\nurl = "http://a:8000"\nkind = "vllm"\napi_key_env = "A_KEY"\n'
        '[[upstream]]\nurl = "http://b:8000"\napi_key = "b-key"\n'
    )  # fmt: skip
    config = fleet_config(
        ["sglang+http://c:1"], str(path), api_key="shared", timeout_s=9, env={"A_KEY": "a-key"}
    )
    assert [(s.url, s.kind, s.api_key) for s in config.upstreams] == [
        ("http://c:1", "sglang", "shared"),  # the flag's key goes to those without their own
        ("http://a:8000", "vllm", "a-key"),
        ("http://b:8000", None, "b-key"),
    ]
    assert (config.health_interval_s, config.balance_abs_tokens, config.read_timeout_s) == (2, 100, 9)
    assert (
        fleet_config(["http://a:1"], str(path), health_interval_s=0.5, env={"A_KEY": "k"}).health_interval_s
        == 0.5
    )


@pytest.mark.parametrize(
    ("text", "complaint"),
    [
        ('[[upstream]]\nurl = "http://a:1"\nkind = "tgi"\n', "kind 'tgi'"),
        ('[[upstream]]\nurl = "http://a:1"\napi_key_env = "NOPE"\n', "NOPE"),
        ('[[upstream]]\nhost = "a"\n', "unknown key 'host'"),
        ('health_intervall_s = 1\n[[upstream]]\nurl = "http://a:1"\n', "unknown key 'health_intervall_s'"),
        ('health_interval_s = 0\n[[upstream]]\nurl = "http://a:1"\n', "health_interval_s must be positive"),
        ("[[upstream]\n", "not valid TOML"),
        ('[[upstream]]\nurl = "http://a:1"\n[[upstream]]\nurl = "http://a:1/v1"\n', "listed twice"),
        ("", "no upstreams"),
    ],
)
def test_a_config_file_that_cannot_be_used_says_why(tmp_path, text, complaint):
    path = tmp_path / "fleet.toml"
    path.write_text(text)
    with pytest.raises(UpstreamConfigError, match=complaint.replace("(", r"\(")):
        fleet_config([], str(path), env={})


def test_the_flag_repeats_and_the_variable_takes_a_list():
    import argparse

    parser = argparse.ArgumentParser()
    add_arguments(parser)
    args = parser.parse_args(["--upstream", "http://a:1", "--upstream", "vllm+http://b:2,http://c:3"])
    assert settings_from_args(args, env={}).upstream == ["http://a:1", "vllm+http://b:2", "http://c:3"]
    from_env = settings_from_args(parser.parse_args([]), env={"GOSSAMER_UPSTREAM": "http://a:1, http://b:2"})
    assert from_env.upstream == ["http://a:1", "http://b:2"] and from_env.uses_upstreams
    assert not ServerSettings().uses_upstreams


def test_serve_takes_either_a_model_or_upstreams(monkeypatch):
    import argparse

    from gossamer.cli.serve import prepare_settings
    from gossamer.errors import GossamerError

    parser = argparse.ArgumentParser()
    add_arguments(parser, model_positional=True)
    for name in [n for n in os.environ if n.startswith("GOSSAMER_")]:
        monkeypatch.delenv(name)
    settings = prepare_settings(parser.parse_args(["--upstream", "vllm+http://gpu-1:8000"]))
    assert settings.uses_upstreams and settings.model is None
    with pytest.raises(GossamerError, match="drop the model argument"):
        prepare_settings(parser.parse_args(["gpt-oss-20b", "--upstream", "http://gpu-1:8000"]))
