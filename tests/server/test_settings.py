"""Settings come from flags over GOSSAMER_* variables over defaults."""

from __future__ import annotations

import argparse

import pytest

from gossamer.server.settings import ServerSettings, add_arguments, settings_from_args, settings_from_env


def parse(argv: list[str], env: dict[str, str]) -> ServerSettings:
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    return settings_from_args(parser.parse_args(argv), env)


def test_defaults() -> None:
    settings = parse([], {})
    assert (settings.host, settings.port, settings.api_key, settings.cors_origins) == (
        "127.0.0.1",
        8000,
        None,
        [],
    )
    assert settings.model is None


def test_environment_then_flags() -> None:
    env = {
        "GOSSAMER_PORT": "9000",
        "GOSSAMER_API_KEY": "k",
        "GOSSAMER_CORS_ORIGINS": "http://a.test, http://b.test",
        "GOSSAMER_KV_CACHE_MEMORY_BYTES": "2GiB",
        "GOSSAMER_MAX_CONTEXT_LENGTH": "8192",
        "GOSSAMER_DEVICE": "cuda:1",
    }
    settings = parse(["--port", "9100", "--dtype", "float32"], env)
    assert settings.port == 9100  # the flag wins
    assert settings.api_key == "k" and settings.cors_origins == ["http://a.test", "http://b.test"]
    assert settings.kv_cache_memory_bytes == 2 << 30 and settings.max_context_length == 8192
    assert (settings.device, settings.dtype) == ("cuda:1", "float32")


def test_bad_environment_value_names_the_variable() -> None:
    with pytest.raises(ValueError, match="GOSSAMER_PORT"):
        settings_from_env({"GOSSAMER_PORT": "eighty"})


def test_positional_model_for_the_cli() -> None:
    parser = argparse.ArgumentParser()
    add_arguments(parser, model_positional=True)
    assert settings_from_args(parser.parse_args(["gpt-oss-20b"]), {}).model == "gpt-oss-20b"


def test_host_may_carry_a_port_like_ollama_host() -> None:
    settings = settings_from_env({"GOSSAMER_HOST": "http://0.0.0.0:8080/"})
    assert (settings.host, settings.port) == ("0.0.0.0", 8080)
    settings = settings_from_env({"GOSSAMER_HOST": "[::1]:9000", "GOSSAMER_PORT": "9001"})
    assert (settings.host, settings.port) == ("::1", 9001)
    assert settings_from_env({"GOSSAMER_HOST": "::1"}).host == "::1"


def test_help_shows_each_default_and_variable_while_flags_stay_unset(capsys) -> None:
    from dataclasses import fields

    from gossamer.cli import build_parser
    from gossamer.server.main import main

    helps = []
    for entry_point, argv in ((main, ["--help"]), (build_parser().parse_args, ["serve", "--help"])):
        with pytest.raises(SystemExit):
            entry_point(argv)
        helps.append(" ".join(capsys.readouterr().out.split()))  # argparse wraps lines
    for text in helps:
        for f in fields(ServerSettings):
            assert f"env GOSSAMER_{f.name.upper()})" in text
        assert "TCP port (default: 8000; env GOSSAMER_PORT)" in text
        assert "(default: the embedded gossamer-tiny model; env GOSSAMER_MODEL)" in text
        assert "(default: 256MiB; env GOSSAMER_REPLAY_MAX_BYTES)" in text
        assert "(default: 604800 = 7 days; env GOSSAMER_REPLAY_MAX_AGE_S)" in text
        assert "(default: on; env GOSSAMER_REASONING_REPLAY)" in text
    # The defaults shown are not argparse's: an unset flag is None, so the environment still counts.
    assert parse([], {"GOSSAMER_PORT": "9000", "GOSSAMER_REASONING_REPLAY": "off"}).port == 9000
    unset = vars(build_parser().parse_args(["serve"]))
    assert all(unset[f.name] is None for f in fields(ServerSettings))
