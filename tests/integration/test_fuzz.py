"""Random input from one client never crashes the server or disturbs anyone else."""

from __future__ import annotations

import contextlib
import itertools
import logging

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hubbub.server.handlers.table import COMMANDS

from .ircclient import IRCClient

WORDS = [
    *COMMANDS,
    "CAP",
    "LS",
    "REQ",
    "END",
    "302",
    "*",
    "0",
    "#c",
    "#",
    "&x",
    "bob",
    "alice",
    ":",
    "+o",
    "-b",
]

lines = st.one_of(
    st.binary(max_size=600),
    st.lists(
        st.one_of(
            st.sampled_from(WORDS),
            st.text(max_size=20),
            st.sampled_from(["@a=b", "@+x=\\", ":src", "@label=l1", "@label=;+draft/reply=x", "msgid=zz"]),
        ),
        min_size=1,
        max_size=8,
    ).map(lambda words: " ".join(words).encode("utf-8", "surrogatepass")),
)


_serial = itertools.count()


ALL_CAPS = (
    "message-tags server-time echo-message batch labeled-response multi-prefix userhost-in-names "
    "away-notify extended-join invite-notify setname account-tag account-notify draft/chathistory "
    "draft/read-marker chghost extended-monitor"
)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(batch=st.lists(lines, min_size=1, max_size=40), caps=st.booleans())
async def test_random_lines_never_break_the_server_for_others(server, caplog, batch, caps):
    n = next(_serial)
    watcher = await IRCClient.open(server.host, server.port, "watcher")
    fuzzer = await IRCClient.open(server.host, server.port, "fuzzer")
    try:
        await watcher.register(f"watcher{n}")
        await watcher.join("#c")
        if caps:  # the same, from a client that negotiated every capability
            fuzzer.send(f"CAP REQ :{ALL_CAPS}")
            fuzzer.send("CAP END")
        fuzzer.send(f"NICK fuzzer{n}")
        fuzzer.send("USER f 0 * :f")
        fuzzer.send("JOIN #c")
        for line in batch:
            fuzzer.send_raw(line.replace(b"\r", b"").replace(b"\n", b"") + b"\r\n")
        with contextlib.suppress(ConnectionError, OSError):
            await fuzzer.drain()
        # The server still serves everyone: a fresh client registers and talks to the watcher.
        other = await IRCClient.open(server.host, server.port, "other")
        try:
            await other.register(f"other{n}")
            other.send(f"PRIVMSG watcher{n} :still here")
            got = await watcher.expect("PRIVMSG", f"watcher{n}")
            assert got.params[1] == "still here"
        finally:
            await other.close()
    finally:
        await fuzzer.close()
        await watcher.close()
    crashes = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert not crashes, crashes[0].getMessage()
