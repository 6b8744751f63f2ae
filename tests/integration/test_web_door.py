"""The web door: IRC over WebSocket next to TCP, static files, /healthz, and what goes wrong."""

from __future__ import annotations

import asyncio
import sqlite3
import ssl
import time

import pytest
from prometheus_client.parser import text_string_to_metric_families
from websockets.asyncio.client import connect as ws_connect
from websockets.frames import CloseCode, Opcode

from hubbub.protocol import MAX_LINE
from hubbub.server.app import Server
from hubbub.server.tls import generate_self_signed
from tests.support.clock import FakeClock
from tests.support.serverproc import ServerProcess

from .wsclient import Rejected, WSClient


@pytest.fixture(autouse=True)
async def close_websockets_left_open():
    yield
    for client in list(WSClient.unclosed):
        await client.close()


@pytest.fixture
async def web(start_server) -> Server:
    return await start_server(web_port=0)


def ws_url(srv: Server, path: str = "/") -> str:
    return f"ws://127.0.0.1:{srv.web_port}{path}"


async def ws_open(srv: Server, nick: str | None = None, **kwargs) -> WSClient:
    client = await WSClient.open(ws_url(srv, kwargs.pop("path", "/")), name=nick or "ws", **kwargs)
    if nick:
        await client.register(nick)
    return client


async def http(srv: Server, request: bytes) -> tuple[int, dict[str, str], bytes]:
    """Send a raw request; read the response to the end (the door closes after each)."""
    reader, writer = await asyncio.open_connection("127.0.0.1", srv.web_port)
    writer.write(request)
    try:
        raw = await asyncio.wait_for(reader.read(), 5)
    finally:
        writer.close()
    head, _, body = raw.partition(b"\r\n\r\n")
    lines = head.decode().split("\r\n")
    headers = {k.lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:])}
    return int(lines[0].split()[1]), headers, body


def get(path: str, method: str = "GET", extra: str = "") -> bytes:
    return f"{method} {path} HTTP/1.1\r\nHost: localhost\r\n{extra}\r\n".encode()


# chatting ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("offered", "chosen", "kind"),
    [
        (["text.ircv3.net"], "text.ircv3.net", Opcode.TEXT),
        (["binary.ircv3.net"], "binary.ircv3.net", Opcode.BINARY),
        ([], None, Opcode.TEXT),
    ],
)
async def test_websocket_and_tcp_clients_chat_in_one_channel(web, connect, offered, chosen, kind):
    ws = await ws_open(web, "webby", subprotocols=offered)
    assert ws.subprotocol == chosen
    tcp = await connect("tcpy", target=web)
    await ws.join("#c")
    await tcp.join("#c")
    await ws.expect("JOIN", "#c")  # tcpy's
    ws.send("PRIVMSG #c :hello from the browser")
    said = await tcp.expect("PRIVMSG", "#c")
    assert said.params[1] == "hello from the browser"
    assert said.source.startswith("webby!")
    tcp.send("PRIVMSG #c :hello from the terminal")
    heard = await ws.expect("PRIVMSG", "#c")
    assert heard.params[1] == "hello from the terminal"
    assert set(ws.kinds) == {kind}  # every line of the server, one message of the subprotocol's type
    tcp.send("PRIVMSG webby :direct")
    assert (await ws.expect("PRIVMSG", "webby")).params[1] == "direct"


async def test_a_burst_from_several_senders_reaches_text_and_binary_members_whole_and_in_order(
    start_server, connect
):
    # Several senders' bursts land in one loop turn and in turns waiting for one commit, so each
    # member's flush holds several shared segments: their frames are made once for all members
    # (WebSocketTransport.write_parts), per message type, and must still be every line, in order.
    srv = await start_server(web_port=0, flood_control=False)
    text = await ws_open(srv, "texty", subprotocols=["text.ircv3.net"])
    binary = await ws_open(srv, "binny", subprotocols=["binary.ircv3.net"])
    plain = await ws_open(srv, "plainy", subprotocols=[])
    senders = [await connect(f"s{i}", target=srv) for i in range(3)]
    for client in (text, binary, plain):
        await client.join("#burst")
    for sender in senders:
        await sender.join("#burst")
    for member in (text, binary, plain):
        for _sender in senders:
            await member.expect("JOIN", "#burst", timeout=5)
    lines = 200
    for n in range(lines):
        for i, sender in enumerate(senders):
            sender.send(f"PRIVMSG #burst :{i} {n} caf\u00e9 " + "x" * (n % 150))
    for member, kind in ((text, Opcode.TEXT), (binary, Opcode.BINARY), (plain, Opcode.TEXT)):
        member.kinds.clear()
        got: dict[str, list[int]] = {"0": [], "1": [], "2": []}
        while sum(map(len, got.values())) < lines * len(senders):
            m = await member.expect("PRIVMSG", "#burst", timeout=10)
            who, seq, word, pad = m.params[1].split(" ")
            assert word == "caf\u00e9" and pad == "x" * (int(seq) % 150)
            got[who].append(int(seq))
        assert all(seqs == list(range(lines)) for seqs in got.values()), member.name
        assert set(member.kinds) == {kind}


async def test_the_client_order_of_preference_picks_the_subprotocol(web):
    first_binary = await ws_open(web, subprotocols=["binary.ircv3.net", "text.ircv3.net"])
    assert first_binary.subprotocol == "binary.ircv3.net"
    first_text = await ws_open(web, subprotocols=["x.example", "text.ircv3.net", "binary.ircv3.net"])
    assert first_text.subprotocol == "text.ircv3.net"
    unknown = await ws_open(web, "legacy", subprotocols=["x.example"])  # none agreed: text
    assert unknown.subprotocol is None


async def test_a_websocket_client_gets_history_on_join(web, connect):
    tcp = await connect("early", target=web)
    await tcp.join("#h")
    tcp.send("PRIVMSG #h :said before the browser came")
    tcp.send("PART #h")
    await tcp.expect("PART")
    ws = await ws_open(web, "late", path="/irc")
    ws.send("JOIN #h")
    replay = await ws.expect("PRIVMSG", "#h")
    assert replay.params[1] == "said before the browser came"


async def test_a_websocket_client_may_send_lines_in_fragments_and_with_a_trailing_crlf(web):
    ws = await ws_open(web)
    ws.ws.send_text(b"NICK fr", fin=False)
    ws.ws.send_continuation(b"ag", fin=True)
    ws.send("USER f 0 * :F\r\n")
    assert (await ws.expect("001")).params[0] == "frag"


async def test_non_utf8_on_the_binary_subprotocol_is_refused_as_on_tcp(web):
    ws = await ws_open(web, "latin", subprotocols=["binary.ircv3.net"])
    ws.send(b"PRIVMSG latin :caf\xe9")
    failed = await ws.expect("FAIL")
    assert failed.params[1] == "INVALID_UTF8"
    ws.send("PING :alive")
    await ws.expect("PONG")


# what goes wrong ----------------------------------------------------------------------------------


async def bystander(web, connect):
    """A TCP client in #c, to show nobody else is hurt."""
    tcp = await connect("bystander", target=web)
    await tcp.join("#c")
    return tcp


@pytest.mark.parametrize(("subprotocol", "binary"), [("text.ircv3.net", True), ("binary.ircv3.net", False)])
async def test_a_frame_of_the_wrong_type_closes_with_1003(web, connect, subprotocol, binary):
    tcp = await bystander(web, connect)
    ws = await ws_open(web, "wrongtype", subprotocols=[subprotocol])
    await ws.join("#c")
    ws.send("PRIVMSG #c :mismatch", binary=binary)
    await ws.expect_closed()
    assert ws.close_frame is not None and ws.close_frame.code == CloseCode.UNSUPPORTED_DATA
    assert (await tcp.expect("QUIT")).source.startswith("wrongtype!")
    await tcp.assert_silent("PRIVMSG")  # the bad message never reached the channel
    await tcp.sync()


async def test_invalid_utf8_in_a_text_message_closes_with_1007(web):
    ws = await ws_open(web, "mangled", subprotocols=["text.ircv3.net"])
    ws.ws.send_text(b"PRIVMSG mangled :caf\xe9")  # the library sends what it is given
    ws._write()
    await ws.expect_closed()
    assert ws.close_frame is not None and ws.close_frame.code == CloseCode.INVALID_DATA


async def test_no_subprotocol_takes_text_and_binary(web):
    ws = await ws_open(web)
    ws.send("NICK either", binary=True)
    ws.send("USER e 0 * :E", binary=False)
    await ws.expect("001")


async def test_an_oversized_message_closes_with_1009(web, connect):
    tcp = await bystander(web, connect)
    ws = await ws_open(web, "huge")
    ws.send("PRIVMSG #c :" + "x" * MAX_LINE)
    await ws.expect_closed()
    assert ws.close_frame is not None and ws.close_frame.code == CloseCode.MESSAGE_TOO_BIG
    await tcp.sync()
    fine = await ws_open(web, "fine")
    fine.send("PRIVMSG bystander :" + "y" * 400)  # a long line within the limit is fine
    assert (await tcp.expect("PRIVMSG", "bystander")).params[1] == "y" * 400


async def test_two_lines_in_one_message_close_with_1008(web):
    ws = await ws_open(web, "smuggler")
    ws.send("PRIVMSG smuggler :a\r\nQUIT :b")
    await ws.expect_closed()
    assert ws.close_frame is not None and ws.close_frame.code == CloseCode.POLICY_VIOLATION


async def test_a_foreign_origin_is_refused_before_any_upgrade(web):
    with pytest.raises(Rejected) as refused:
        await ws_open(web, origin="https://evil.example")
    assert refused.value.status == 403
    assert b"Origin" in refused.value.body
    assert not web.connections  # never a connection


@pytest.mark.parametrize("origin", ["http://localhost:5173", "https://127.0.0.1", "http://[::1]:8080"])
async def test_loopback_pages_and_the_same_host_may_connect(web, origin):
    ws = await ws_open(web, "local", origin=origin)
    ws.send("PING :y")
    await ws.expect("PONG")
    same = await ws_open(web, origin="http://chat.example:80", headers=[("Host", "chat.example:80")])
    same.send("PING :x")
    await same.expect("PONG")
    await ws.close()


async def test_configured_origins_replace_the_loopback_default(start_server):
    srv = await start_server(web_port=0, web_origins=("https://chat.example",))
    await ws_open(srv, "ok", origin="https://chat.example")
    with pytest.raises(Rejected):
        await ws_open(srv, origin="http://localhost:5173")


async def test_a_websocket_that_never_reads_is_dropped_for_sendq_others_unaffected(start_server, connect):
    srv = await start_server(web_port=0, sendq=16384)
    sender = await connect("sender", target=srv)
    reader = await connect("reader", target=srv)
    slow = await WSClient.open(ws_url(srv), name="slow", rcvbuf=4096)
    await slow.register("slow")
    await slow.join("#c")
    await reader.join("#c")
    await sender.join("#c")
    text = "x" * 440
    quits: list = []

    def privmsg_number(n: int):
        def pred(m) -> bool:
            if m.command == "QUIT":
                quits.append(m)
            return m.command == "PRIVMSG" and m.params[1].split()[0] == str(n)

        return pred

    for i in range(16000):
        sender.send(f"PRIVMSG #c :{i} {text}")
        if i % 100 == 99:
            # Paced by the healthy reader: only the one that never reads falls behind.
            await sender.drain()
            await reader.expect(privmsg_number(i), timeout=20)
            if quits:
                break
    if not quits:
        quits.append(await reader.expect("QUIT", timeout=10))
    quit_seen = quits[0]
    assert quit_seen.source.startswith("slow!")
    assert quit_seen.params[0] == "SendQ exceeded"
    sender.send("PRIVMSG #c :still here")
    await reader.expect(lambda m: m.command == "PRIVMSG" and m.params[1] == "still here")


async def test_a_websocket_that_vanishes_without_closing_quits(web, connect):
    tcp = await bystander(web, connect)
    ws = await ws_open(web, "vanisher")
    await ws.join("#c")
    ws.drop()
    assert (await tcp.expect("QUIT")).source.startswith("vanisher!")
    again = await ws_open(web, "vanisher")  # the nick is free again
    await again.join("#c")


async def test_a_websocket_client_that_closes_politely_quits(web, connect):
    tcp = await bystander(web, connect)
    ws = await ws_open(web, "polite")
    await ws.join("#c")
    ws.ws.send_close(CloseCode.GOING_AWAY)
    ws._write()
    await ws.expect_closed()
    assert (await tcp.expect("QUIT")).source.startswith("polite!")


async def test_quit_sends_error_then_a_close_frame(web):
    ws = await ws_open(web, "leaver")
    ws.send("QUIT :bye")
    rest = await ws.expect_closed()
    assert rest[-1].startswith(b"ERROR ")
    assert ws.close_frame is not None and ws.close_frame.code == CloseCode.NORMAL_CLOSURE


async def test_graceful_shutdown_closes_websockets_with_error_then_going_away(start_server):
    srv = await start_server(web_port=0)
    ws = await ws_open(srv, "stayer")
    await srv.stop()
    rest = await ws.expect_closed()
    assert rest[-1].startswith(b"ERROR ") and b"Server shutting down" in rest[-1]
    assert ws.close_frame is not None and ws.close_frame.code == CloseCode.GOING_AWAY


async def test_websockets_count_against_the_connection_limits(start_server, connect):
    srv = await start_server(web_port=0, max_per_ip=1, exempt_loopback=False)
    await connect("first", target=srv)
    ws = await ws_open(srv)
    rest = await ws.expect_closed()
    assert rest and rest[0].startswith(b"ERROR :Closing link:")


async def test_a_client_that_misses_the_pong_is_dropped(start_server, connect):
    clock = FakeClock()
    srv = await start_server(web_port=0, clock=clock, web_ping_interval=30.0)
    tcp = await connect("watcher", target=srv)
    await tcp.join("#p")
    ws = await ws_open(srv, "sleeper")
    await ws.join("#p")
    clock.advance(30)  # a ping goes out; the sleeper reads nothing, so never answers
    await tcp.sync()
    clock.advance(30)
    quit_msg = await tcp.expect("QUIT")
    assert quit_msg.source.startswith("sleeper!") and "Ping timeout" in quit_msg.params[0]
    await ws.expect_closed()
    assert ws.close_frame is not None and ws.close_frame.code == CloseCode.INTERNAL_ERROR


async def test_a_client_that_answers_pings_stays(start_server):
    clock = FakeClock()
    srv = await start_server(web_port=0, clock=clock, web_ping_interval=30.0)
    ws = await ws_open(srv, "awake")
    for _ in range(3):
        clock.advance(30)
        ws.send("PING :still")  # reading the reply reads (and answers) the ping before it
        await ws.expect("PONG")
    assert any(conn.session is not None and conn.session.nick == "awake" for conn in srv.connections)


# proxies ------------------------------------------------------------------------------------------


async def test_x_forwarded_for_is_believed_from_a_trusted_proxy_only(start_server, connect):
    trusting = await start_server(web_port=0, web_trusted_proxies=("127.0.0.0/8",))
    watcher = await connect("watcher", target=trusting)
    ws = await ws_open(trusting, "proxied", headers=[("X-Forwarded-For", "198.51.100.9, 203.0.113.5")])
    watcher.send("WHOIS proxied")
    user = await watcher.expect("311")
    assert user.params[3] == "203.0.113.5"  # the last hop: what the trusted proxy saw
    await ws.close()

    doubting = await start_server(web_port=0)
    other = await connect("other", target=doubting)
    spoofer = await ws_open(doubting, "spoofer", headers=[("X-Forwarded-For", "203.0.113.5")])
    other.send("WHOIS spoofer")
    assert (await other.expect("311")).params[3] == "127.0.0.1"
    await spoofer.close()


async def test_a_garbage_forwarded_address_is_ignored(start_server, connect):
    srv = await start_server(web_port=0, web_trusted_proxies=("127.0.0.1",))
    watcher = await connect("watcher", target=srv)
    await ws_open(srv, "garbled", headers=[("X-Forwarded-For", "not-an-address")])
    watcher.send("WHOIS garbled")
    assert (await watcher.expect("311")).params[3] == "127.0.0.1"


# HTTP ----------------------------------------------------------------------------------------------


async def test_the_page_is_served_with_its_type(web):
    status, headers, body = await http(web, get("/"))
    assert status == 200
    assert headers["content-type"] == "text/html; charset=utf-8"
    assert int(headers["content-length"]) == len(body) and b"<html" in body
    assert (await http(web, get("/index.html")))[2] == body


async def test_head_has_the_headers_and_no_body(web):
    status, headers, body = await http(web, get("/", "HEAD"))
    assert status == 200 and body == b""
    assert int(headers["content-length"]) > 0


@pytest.mark.parametrize("method", ["POST", "PUT", "DELETE", "OPTIONS"])
async def test_other_methods_get_405(web, method):
    status, headers, _ = await http(web, get("/", method, "Content-Length: 3\r\n") + b"abc")
    assert status == 405
    assert headers["allow"] == "GET, HEAD"


@pytest.mark.parametrize(
    "path",
    [
        "/nope.js",
        "/../../../../etc/passwd",
        "/%2e%2e/%2e%2e/%2e%2e/etc/passwd",
        "/..%2f..%2f..%2fetc/passwd",
        "/static/../../pyproject.toml",
        "/%00",
        "/.hidden",
        "//etc/passwd",
    ],
)
async def test_missing_files_and_escapes_get_404(web, path):
    status, _, body = await http(web, get(path))
    assert status == 404
    assert b"root:" not in body


async def test_a_websocket_upgrade_elsewhere_is_404(web):
    with pytest.raises(Rejected) as refused:
        await WSClient.open(ws_url(web, "/elsewhere"))
    assert refused.value.status == 404


async def test_healthz_says_ok(web):
    status, headers, body = await http(web, get("/healthz"))
    assert (status, body) == (200, b"ok\n")
    assert headers["content-type"].startswith("text/plain")


async def test_metrics_count_the_web_doors_clients_and_their_messages(web, connect):
    tcp = await connect("tcpuser", target=web)
    await tcp.join("#m")
    browser = await ws_open(web, "webuser")
    browser.send("JOIN #m")
    await browser.expect("366")
    browser.send("PRIVMSG #m :counted")
    await tcp.expect("PRIVMSG")
    status, headers, body = await http(web, get("/metrics"))
    assert status == 200 and headers["content-type"].startswith("text/plain; version=")
    samples = {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(body.decode())
        for s in family.samples
    }
    assert samples[("hubbub_connections", (("door", "web"),))] == 1
    assert samples[("hubbub_connections", (("door", "plain"),))] == 1
    assert samples[("hubbub_users", ())] == 2
    assert samples[("hubbub_messages_total", ())] >= 1
    await browser.close()


async def test_healthz_says_503_while_the_store_is_locked(web, connect):
    store_path = web.history.store.path
    tcp = await connect("writer", target=web)
    await tcp.join("#w")
    locker = sqlite3.connect(store_path, timeout=5)
    try:
        locker.execute("BEGIN IMMEDIATE")
        tcp.send("PRIVMSG #w :waits for the lock")
        deadline = time.monotonic() + 10
        while True:
            status, _, body = await http(web, get("/healthz"))
            if status == 503 or time.monotonic() > deadline:
                break
        assert status == 503 and b"locked" in body
    finally:
        locker.rollback()
        locker.close()
    deadline = time.monotonic() + 10
    while (await http(web, get("/healthz")))[0] != 200:
        assert time.monotonic() < deadline, "healthz never recovered"


async def test_a_request_that_never_finishes_is_timed_out(start_server):
    srv = await start_server(web_port=0, web_request_timeout=0.2)
    status, _, _ = await http(srv, b"GET / HTTP/1.1\r\nHost: x\r\n")  # no blank line: never done
    assert status == 408


async def test_serve_prints_the_web_url_and_serves_the_page(tmp_path, processes):
    server = ServerProcess(tmp_path / "data", "--web-port", "0")
    await server.start()
    processes.append(server)
    line = await server.wait_for_stderr(b"hubbub web on ")
    url = line.decode().split("hubbub web on ", 1)[1].split()[0]
    assert url.startswith("http://127.0.0.1:") and url.endswith("/")
    host, port = url[len("http://") : -1].rsplit(":", 1)
    reader, writer = await asyncio.open_connection(host, int(port))
    writer.write(b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n")
    raw = await asyncio.wait_for(reader.read(), 5)
    writer.close()
    assert raw.startswith(b"HTTP/1.1 200 ") and b"<html" in raw


async def test_the_web_door_speaks_https_and_wss_with_the_tls_certificate(start_server, connect, tmp_path):
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    generate_self_signed(cert, key)
    srv = await start_server(web_port=0, tls_port=0, tls_cert=str(cert), tls_key=str(key))
    assert srv.web_url == f"https://127.0.0.1:{srv.web_port}/"
    ctx = ssl.create_default_context(cafile=str(cert))
    reader, writer = await asyncio.open_connection(
        "127.0.0.1", srv.web_port, ssl=ctx, server_hostname="localhost"
    )
    writer.write(get("/healthz"))
    raw = await asyncio.wait_for(reader.read(), 5)
    writer.close()
    assert raw.startswith(b"HTTP/1.1 200 ") and raw.endswith(b"\r\n\r\nok\n")
    watcher = await connect("watcher", target=srv)
    async with ws_connect(
        f"wss://localhost:{srv.web_port}/",
        ssl=ctx,
        host="127.0.0.1",
        subprotocols=["text.ircv3.net"],
        open_timeout=5,
    ) as ws:
        await ws.send("NICK secure")
        await ws.send("USER s 0 * :S")
        while (await asyncio.wait_for(ws.recv(), 5)).split()[1] != "001":
            pass
        watcher.send("WHOIS secure")
        await watcher.expect("671", "watcher", "secure")  # a secure connection, as over TLS


async def test_hostile_requests_get_an_answer_and_hurt_nobody(web, connect):
    tcp = await connect("bystander", target=web)
    broken_upgrade = get("/", extra="Upgrade: websocket\r\nConnection: Upgrade\r\n")  # no key, no version
    assert (await http(web, broken_upgrade))[0] == 400
    doubled = get("/", extra="Upgrade: websocket\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n")
    assert (await http(web, doubled))[0] == 200  # not one Upgrade: a plain GET
    assert (await http(web, get("/healthz") + b"\x00garbage after the request" * 100))[0] == 200
    assert (await http(web, b"GET /" + b"a" * 9000))[0] == 414
    assert (await http(web, get("/", extra="X-Big: " + "b" * 9000 + "\r\n")))[0] == 431
    assert (await http(web, b"\x16\x03\x01 not http\r\n\r\n"))[0] == 405
    tcp.send("PING :fine")
    await tcp.expect("PONG")


async def test_a_client_that_half_closes_after_its_request_still_gets_the_answer(web):
    reader, writer = await asyncio.open_connection("127.0.0.1", web.web_port)
    writer.write(get("/healthz"))
    writer.write_eof()
    raw = await asyncio.wait_for(reader.read(), 5)
    writer.close()
    assert raw.startswith(b"HTTP/1.1 200 ") and raw.endswith(b"ok\n")


async def _idle_sockets(srv: Server, n: int) -> list[asyncio.StreamWriter]:
    """``n`` connections that send nothing: each holds a place until its request times out."""
    writers = []
    for _ in range(n):
        _, writer = await asyncio.open_connection("127.0.0.1", srv.web_port)
        writers.append(writer)
    deadline = time.monotonic() + 5
    while len(srv.web.peers) < n:  # polling with a deadline: the server has accepted them
        assert time.monotonic() < deadline
        await asyncio.sleep(0.01)
    return writers


@pytest.mark.parametrize(
    ("limits", "held"), [({"web_max_requests_per_ip": 3}, 3), ({"web_max_requests": 2}, 2)]
)
async def test_connections_that_never_become_websockets_are_capped_with_a_503(start_server, limits, held):
    srv = await start_server(web_port=0, **limits)
    idle = await _idle_sockets(srv, held)
    status, headers, body = await http(srv, get("/"))
    assert (status, headers.get("retry-after")) == (503, "10"), body
    with pytest.raises(Rejected) as refused:  # a WebSocket begins as a request: refused alike
        await ws_open(srv, "early")
    assert refused.value.status == 503
    for writer in idle:
        writer.close()
    deadline = time.monotonic() + 5
    while srv.web.waiting or srv.web.per_ip:  # the places are given back
        assert time.monotonic() < deadline, (srv.web.waiting, srv.web.per_ip)
        await asyncio.sleep(0.01)
    status, _, _ = await http(srv, get("/"))
    assert status == 200


async def test_websockets_hold_no_place_among_the_requests(start_server):
    srv = await start_server(web_port=0, web_max_requests_per_ip=2)
    clients = [await ws_open(srv, f"w{i}") for i in range(4)]  # more than the cap, one by one
    status, _, _ = await http(srv, get("/"))
    assert status == 200
    assert not srv.web.per_ip or sum(srv.web.per_ip.values()) <= 1
    for client in clients:
        await client.close()


async def test_answered_requests_give_their_place_back_at_once(start_server):
    # A page is a dozen requests, one connection each, whose sockets linger a moment after the
    # answer (here: the client does not close its side): they must not fill the door.
    srv = await start_server(web_port=0, web_max_requests_per_ip=2)
    held = []
    try:
        for _ in range(6):
            reader, writer = await asyncio.open_connection("127.0.0.1", srv.web_port)
            held.append(writer)
            writer.write(get("/"))
            answer = await asyncio.wait_for(reader.read(), 5)  # to the server's half-close
            assert answer.startswith(b"HTTP/1.1 200"), answer[:80]
    finally:
        for writer in held:
            writer.close()
