"""What a node queues for another node's users: each user's lines in order, shared bytes once."""

from __future__ import annotations

from hubbub.server.outbox import Epoch, Outboxes, Segment
from hubbub.server.remote import NodeOutbox, RemoteLink


def _outbox() -> tuple[NodeOutbox, list[NodeOutbox]]:
    woken: list[NodeOutbox] = []
    return NodeOutbox("b/1", woken.append), woken


def test_each_user_gets_its_pieces_in_order_and_shared_bytes_are_sent_once() -> None:
    out, woken = _outbox()
    shared = b"shared line\r\n"
    seg = Segment(b"seg one\r\n", 0)
    seg.append(b"seg two\r\n")
    out.add(1, [shared, b"only one\r\n"])
    out.add(2, [shared])
    out.add(2, [seg])
    out.add(1, [seg])
    assert woken == [out]  # scheduled once for the turn
    pieces, users = out.take()
    assert pieces == [shared, b"only one\r\n", b"seg one\r\nseg two\r\n"]
    assert users == [[1, 0, 1, 2], [2, 0, 2]]
    assert out.take() == ([], [])
    out.add(3, [b"x"])
    assert woken == [out, out]  # a new turn schedules again


def test_a_mirror_s_output_waits_for_the_commit_it_depends_on() -> None:
    out, _ = _outbox()
    committed = [0]
    link = RemoteLink(out, 7, "host", lambda: committed[0], Outboxes(sendq=1 << 20))
    epoch = Epoch(1)
    link.hold = epoch
    link.outbox = [b"kept message\r\n"]
    link.flush()
    assert out.parts == {}  # nothing leaves before the commit
    assert epoch.held[link] == [b"kept message\r\n"]
    committed[0] = 1
    link.send_parts(epoch.held.pop(link))
    link.outbox = [b"after\r\n"]
    link.flush()  # committed: straight to the node
    assert out.take() == ([b"kept message\r\n", b"after\r\n"], [[7, 0, 1]])
