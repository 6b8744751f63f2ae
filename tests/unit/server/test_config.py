"""Settings: precedence, validation with the offending key, and the generated reference page."""

from __future__ import annotations

from pathlib import Path

import pytest

from hubbub.server.config import ConfigError, load, reference_markdown

ROOT = Path(__file__).resolve().parents[3]


def test_flags_beat_environment_beat_file_beat_defaults(tmp_path):
    config = tmp_path / "hubbub.toml"
    config.write_text('[server]\nport = 7000\nnetwork = "filenet"\n[limits]\nnicklen = 20\n')
    settings = load(config_file=str(config), environ={"HUBBUB_PORT": "8000"}, overrides={"nicklen": 25})
    assert settings.network == "filenet"
    assert settings.port == 8000
    assert settings.nicklen == 25
    assert settings.topiclen == 390


@pytest.mark.parametrize(
    ("text", "key"),
    [
        ("[limits]\nnicklen = 0\n", "nicklen"),
        ("[limits]\nping_timeout = 10.0\nping_interval = 20.0\n", "ping_timeout"),
        ("[server]\ncasemapping = 'utf8'\n", "casemapping"),
        ("[server]\nno_such_thing = 1\n", "server.no_such_thing"),
        ("[limits]\nflood_control = 'perhaps'\n", "flood_control"),
        ("[server]\nport = 70000\n", "port"),
        ("[history]\nchannel_lifetime = 'forever'\n", "channel_lifetime"),
        ("[operators]\nserver_ban_max_days = 0\n", "server_ban_max_days"),
        ("[operators]\nserver_ban_max_days = 1e9\n", "server_ban_max_days"),
        ("[history]\nredact_window = -1\n", "redact_window"),
        ("[tutorial]\ntutorial_port = 70000\n", "tutorial_port"),
        ("[tutorial]\ntutorial_port = 'soon'\n", "tutorial_port"),
        ("[tutorial]\ntutorial_channel = 'general'\n", "tutorial_channel"),
        ("[tutorial]\ntutorial_message_max = 0\n", "tutorial_message_max"),
        ("[metadata]\nmetadata_max_subs = 0\n", "metadata_max_subs"),
        ("[metadata]\nmetadata_max_keys = -1\n", "metadata_max_keys"),
        # a key and its value must fit in one RPL_KEYVALUE line beside a nick or channel
        ("[metadata]\nmetadata_max_value_bytes = 390\n", "metadata_max_value_bytes"),
        ("[metadata]\nmetadata_join_sync_max = -1\n", "metadata_join_sync_max"),
    ],
)
def test_bad_values_name_the_key(tmp_path, text, key):
    config = tmp_path / "bad.toml"
    config.write_text(text)
    with pytest.raises(ConfigError) as info:
        load(config_file=str(config), environ={})
    assert info.value.key == key


def test_environment_lists_are_comma_separated():
    settings = load(environ={"HUBBUB_PERSISTENT_CHANNELS": "#a, #b"})
    assert settings.persistent_channels == ("#a", "#b")


def test_the_tutorial_door_is_off_unless_a_port_is_given(tmp_path):
    assert load(environ={}).tutorial_port is None
    assert load(environ={"HUBBUB_TUTORIAL_PORT": "0"}).tutorial_port == 0
    assert load(environ={"HUBBUB_TUTORIAL_PORT": "none"}).tutorial_port is None
    config = tmp_path / "hubbub.toml"
    config.write_text("[tutorial]\ntutorial_port = 5000\n")
    assert load(config_file=str(config), environ={}).tutorial_port == 5000
    assert load(environ={}, overrides={"tutorial_port": 6000}).tutorial_port == 6000


def test_channels_are_durable_unless_the_lifetime_says_ephemeral():
    assert load(environ={}).channel_lifetime == "durable"
    assert load(environ={"HUBBUB_CHANNEL_LIFETIME": "ephemeral"}).channel_lifetime == "ephemeral"
    with pytest.raises(ConfigError, match="channel_lifetime: must be durable or ephemeral"):
        load(environ={"HUBBUB_CHANNEL_LIFETIME": "sometimes"})


def test_configuration_reference_matches_the_code():
    page = (ROOT / "docs" / "configuration.md").read_text()
    assert page == reference_markdown(), "run: python -m hubbub.server.config > docs/configuration.md"
