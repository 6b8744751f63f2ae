"""Client.search (soju.im/search) against real servers: hubbub's, and miniircd, which has no search."""

from __future__ import annotations

import pytest

from hubbub.client import ClientError, Message
from tests.support.serverproc import ServerProcess

from .test_driver import WAIT, MakeClient, joined, make_client

__all__ = ["make_client"]  # the fixture, shared with the driver's tests


async def test_search_returns_messages_for_their_buffers_oldest_first(
    hubbub_server: ServerProcess, make_client: MakeClient
) -> None:
    alice = await make_client(hubbub_server, "alice")
    bob = await make_client(hubbub_server, "bob")
    await joined(alice, "#dev")
    await alice.send_message("#dev", "the deploy failed")
    await bob.send_message("alice", "did the deploy work?")
    await alice.wait_for(Message, WAIT, text="did the deploy work?")
    await alice.send_message("#dev", "deploy fixed\nsecond line of it")  # multiline
    await alice.send_message("#dev", "a line about lunch")
    await alice.wait_for(Message, WAIT, text="a line about lunch")

    found = await alice.search("DEPLOY")
    assert [(m.target, m.sender, m.text) for m in found] == [
        ("#dev", "alice", "the deploy failed"),
        ("bob", "bob", "did the deploy work?"),
        ("#dev", "alice", "deploy fixed\nsecond line of it"),
    ]
    assert all(m.from_history and m.msgid for m in found)
    assert found[0].time <= found[1].time <= found[2].time
    # Seen before, found again: results are never dropped as duplicates.
    again = await alice.search("deploy", target="#dev", limit=1)
    assert [m.text for m in again] == ["deploy fixed\nsecond line of it"]
    assert [m.text for m in await alice.search("deploy", sender="bob")] == ["did the deploy work?"]
    later = await alice.search("deploy", after=found[1].time)
    assert later and later[0].text in ("did the deploy work?", "the deploy failed")
    earlier = await alice.search("deploy", before=found[0].time)
    assert earlier and earlier[0].text == "the deploy failed"  # and any of the same millisecond
    assert all(m.time <= found[0].time for m in earlier)
    assert await alice.search("nothing-of-the-sort") == []


async def test_a_refused_search_raises_with_the_servers_reason(
    hubbub_server: ServerProcess, make_client: MakeClient
) -> None:
    eve = await make_client(hubbub_server, "eve")
    with pytest.raises(ClientError, match="cannot search #secret"):
        await eve.search("x", target="#secret")
    with pytest.raises(ClientError, match="nothing to search"):
        await eve.search("   ")
    assert await eve.search("still works") == []


async def test_without_the_capability_search_says_the_server_does_not_offer_it(
    tmp_path, processes: list[ServerProcess], make_client: MakeClient
) -> None:
    server = ServerProcess(tmp_path / "mini", kind="miniircd")
    processes.append(server)
    await server.start()
    alice = await make_client(server, "alice")
    assert not alice.protocol.can_search
    with pytest.raises(ClientError, match="does not offer search"):
        await alice.search("hello")
