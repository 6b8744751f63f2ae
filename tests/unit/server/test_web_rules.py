"""The web door's rules, as pure functions: origins, forwarded addresses, static paths."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import pytest

from hubbub.server.config import ConfigError, Settings, load
from hubbub.server.web import STATIC_ROOT, WebGate


def gate(tmp_path: Path | None = None, **settings) -> WebGate:
    host = SimpleNamespace(settings=Settings(**settings).validate())
    return WebGate(host, root=tmp_path or STATIC_ROOT)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("origin", "host", "allowed"),
    [
        ("http://chat.example:8080", "chat.example:8080", True),  # the page's own host
        ("https://CHAT.example", "chat.example", True),
        ("http://chat.example:8081", "chat.example:8080", False),  # another port is another origin
        ("http://localhost:5173", "chat.example", True),
        ("https://127.0.0.1", None, True),
        ("http://[::1]:3000", None, True),
        ("http://localhost.evil.example", None, False),
        ("https://evil.example", "chat.example", False),
        ("null", "chat.example", False),  # a sandboxed page or a file
        ("file://", None, False),
        ("http://a.example,http://localhost", None, False),  # two Origin headers
    ],
)
def test_origins_by_default(origin, host, allowed):
    assert gate().origin_allowed(origin, host) is allowed


def test_configured_origins_replace_the_loopback_ones_but_not_the_own_host():
    g = gate(web_origins=("https://chat.example.org",))
    assert g.origin_allowed("https://chat.example.org", None)
    assert g.origin_allowed("https://chat.example.org/", None)
    assert not g.origin_allowed("http://localhost:5173", None)
    assert g.origin_allowed("http://web.internal:8080", "web.internal:8080")
    assert gate(web_origins=("*",)).origin_allowed("https://anywhere.example", None)


@pytest.mark.parametrize(
    ("peer", "forwarded", "client"),
    [
        ("10.0.0.5", "198.51.100.1, 203.0.113.9", "203.0.113.9"),  # the last hop
        ("10.0.0.5", "203.0.113.9:4711", "203.0.113.9"),
        ("10.0.0.5", "[2001:db8::7]:4711", "2001:db8::7"),
        ("10.0.0.5", "2001:db8::7", "2001:db8::7"),
        ("10.0.0.5", "unknown", "10.0.0.5"),  # not an address: ignored
        ("10.0.0.5", "", "10.0.0.5"),
        ("192.0.2.1", "203.0.113.9", "192.0.2.1"),  # not a trusted proxy
        ("::ffff:10.0.0.5", "203.0.113.9", "203.0.113.9"),  # a v4 proxy on a dual-stack socket
    ],
)
def test_forwarded_for_only_from_trusted_proxies(peer, forwarded, client):
    g = gate(web_trusted_proxies=("10.0.0.0/8",))
    assert g.client_address((peer, 1234), forwarded)[0] == client


def test_no_trusted_proxy_means_the_header_is_ignored():
    assert gate().client_address(("10.0.0.5", 1), "203.0.113.9") == ("10.0.0.5", 1)


def test_static_paths_stay_inside_the_root(tmp_path):
    (tmp_path / "app.js").write_text("x")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "index.html").write_text("y")
    (tmp_path / ".secret").write_text("z")
    (tmp_path / "link").symlink_to("/etc")
    g = gate(tmp_path)
    assert g.static_file("/app.js") == tmp_path.resolve() / "app.js"
    assert g.static_file("/app.js?v=3") == tmp_path.resolve() / "app.js"
    assert g.static_file("/sub/") == tmp_path.resolve() / "sub" / "index.html"
    for bad in (
        "/../x",
        "/%2e%2e/x",
        "/sub/..%2f..%2fetc",
        "/.secret",
        "/link/passwd",
        "/a%00b",
        "/sub\\..\\x",
    ):
        assert g.static_file(bad) is None, bad


def test_the_package_ships_the_index_page():
    assert (STATIC_ROOT / "index.html").is_file()
    assert gate().static_file("/") == (STATIC_ROOT / "index.html").resolve()


@pytest.mark.parametrize(
    ("environ", "key"),
    [
        ({"HUBBUB_WEB_PORT": "70000"}, "web_port"),
        ({"HUBBUB_WEB_TRUSTED_PROXIES": "10.0.0.0/8,not-a-net"}, "web_trusted_proxies"),
        ({"HUBBUB_WEB_ORIGINS": "chat.example"}, "web_origins"),
        ({"HUBBUB_WEB_PING_INTERVAL": "0"}, "web_ping_interval"),
    ],
)
def test_bad_web_settings_name_their_key(environ, key):
    with pytest.raises(ConfigError) as error:
        load(environ=environ)
    assert error.value.key == key


def test_the_web_port_is_off_unless_given():
    assert load(environ={}).web_port is None
    assert load(environ={"HUBBUB_WEB_PORT": "0"}).web_port == 0
    assert load(environ={"HUBBUB_WEB_PORT": ""}).web_port is None
    assert load(environ={}, overrides={"web_port": 8080}).web_port == 8080
