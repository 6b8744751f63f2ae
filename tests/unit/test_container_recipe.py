"""The Dockerfile's configuration, checked without a container engine.

No engine runs where the tests do, so the image is not built here; what can be checked is that the
recipe configures the server through settings that exist, with values they accept, and runs the
command the package installs.
"""

from __future__ import annotations

import shlex
from pathlib import Path

from hubbub.server.config import Settings, load

DOCKERFILE = Path(__file__).resolve().parents[2] / "Dockerfile"


def env_lines() -> dict[str, str]:
    """The ENV instruction's NAME=value pairs (one instruction, continued over lines)."""
    text = DOCKERFILE.read_text().replace("\\\n", " ")
    env: dict[str, str] = {}
    for line in text.splitlines():
        if line.startswith("ENV "):
            for word in shlex.split(line[4:]):
                name, _, value = word.partition("=")
                env[name] = value
    return env


def test_every_environment_variable_is_a_setting_and_its_value_is_accepted() -> None:
    env = env_lines()
    names = {f"HUBBUB_{name.upper()}" for name in Settings.__dataclass_fields__}
    assert env and set(env) <= names, set(env) - names
    settings = load(environ=env)
    assert settings.host == "0.0.0.0"  # reachable through the container's published ports
    assert settings.web_port == 8080
    assert str(settings.data_dir) == "/data"
    assert settings.log_format == "json"


def test_the_published_ports_are_the_ones_the_server_listens_on() -> None:
    text = DOCKERFILE.read_text()
    exposed = {int(p) for line in text.splitlines() if line.startswith("EXPOSE ") for p in line.split()[1:]}
    settings = load(environ=env_lines())
    assert exposed == {settings.port, settings.web_port}


def test_the_command_is_the_installed_server() -> None:
    cmd = [line for line in DOCKERFILE.read_text().splitlines() if line.startswith("CMD ")]
    assert cmd == ['CMD ["hubbub", "serve"]']
    pyproject = (DOCKERFILE.parent / "pyproject.toml").read_text()
    assert 'hubbub = "hubbub.cli:main"' in pyproject
