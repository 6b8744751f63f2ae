"""What a node queues for another node's users: each user's lines in order, shared bytes once."""

from __future__ import annotations

from hubbub.server.outbox import Epoch, Outboxes, Segment
from hubbub.server.remote import DeviceLink, NodeOutbox, RemoteLink


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


def _device(committed: list[int], waiters: list[object]) -> tuple[DeviceLink, NodeOutbox, list[bytes]]:
    out, _ = _outbox()
    handled: list[bytes] = []
    soon: list[object] = []

    def after_commit(callback: object) -> bool:
        waiters.append(callback)
        return True

    link = DeviceLink(
        out, 4, "host", lambda: committed[0], Outboxes(sendq=1 << 20), after_commit, soon.append
    )
    link.handle = handled.append
    return link, out, handled


def test_a_remote_device_s_lines_wait_in_order_while_a_command_holds_them() -> None:
    link, _out, handled = _device([0], [])
    link.take([b"NICK new", b"PRIVMSG #a :1"])
    assert handled == [b"NICK new", b"PRIVMSG #a :1"]
    link.hold_input()  # a command finishing off the loop (a nick claim)
    link.take([b"PRIVMSG #a :2"])
    link.take([b"PRIVMSG #a :3"])
    assert handled == [b"NICK new", b"PRIVMSG #a :1"]
    link.release_input()
    link._drain()  # what release_input scheduled
    assert handled[2:] == [b"PRIVMSG #a :2", b"PRIVMSG #a :3"]


def test_a_remote_device_s_history_read_runs_again_after_the_commit() -> None:
    waiters: list[object] = []
    link, _out, handled = _device([0], waiters)
    line = b"CHATHISTORY LATEST #a * 10"
    assert link.after_commit(line)  # it waits; the lines after it too
    link.take([b"PRIVMSG #a :after"])
    assert handled == [] and len(waiters) == 1
    link.release_input()  # the commit came (the waiter)
    link._drain()
    assert handled == [line, b"PRIVMSG #a :after"]
    assert not link.after_commit(line)  # the same line, run again: it goes on now


def test_a_remote_device_s_error_follows_what_waits_for_a_commit_and_nothing_follows_it() -> None:
    committed = [0]
    link, out, _handled = _device(committed, [])
    epoch = Epoch(1)
    link.hold = epoch
    link.outbox = [b"last reply\r\n"]
    link.close_with_error("Quit")
    assert out.parts == {}  # its goodbye waits with the reply for the commit
    committed[0] = 1
    link.send_parts(epoch.held.pop(link))
    assert link.lost
    link.send_parts([b"too late\r\n"])
    pieces, users = out.take()
    assert pieces == [b"last reply\r\n", b"ERROR :Quit\r\n"] and users == [[4, 0, 1]]
