"""Several servers in one window, without Tk: one :class:`Session` per connection, and the order
the buffers of all of them are listed, switched through and searched in.

The window keeps one :class:`Session` per server; the one whose buffer is shown is "active" and
its state, bridge and options are the window's ``state``, ``bridge`` and ``options``, so commands
typed go to the server of the buffer shown. Each bridge puts its events on the window's one
queue through a :class:`SessionQueue`, which tags them with the session they belong to.
"""

from __future__ import annotations

import queue
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import NamedTuple, Protocol

from . import events as ev
from .buffers import Buffer, ChatState
from .profiles import Profile


class SessionBridge(Protocol):
    """What a session needs of its network side (see :class:`._bridge.Bridge`)."""

    def start(self) -> None:
        """Start connecting."""

    def submit(self, request: ev.Request) -> None:
        """Carry out ``request``."""

    def stop(self, reason: str = "", timeout: float = 3.0) -> None:
        """Quit and stop."""


@dataclass(eq=False)
class Session:
    """One server of the window: its connection options, its buffers, its network side."""

    sid: int
    options: ev.ConnectOptions
    state: ChatState
    bridge: SessionBridge | None = None
    collapsed: bool = False  # its entries folded away under its node in the sidebar
    profile: str = ""  # the profile it was connected from ("" for none): reconnected at next start
    # What the connect form was given, until the server accepts it (then saved as a profile).
    form_choice: tuple[Profile, bool] | None = None
    # Problems (nick in use, kicked...) that came while another server was shown: asked on return.
    problems: list[ev.Problem] = field(default_factory=list)

    @property
    def title(self) -> str:
        """The name of its node: the network's name once known, else host:port."""
        return self.state.network or f"{self.options.host}:{self.options.port}"

    def summed(self) -> tuple[int, int]:
        """Unread messages and mentions over all its buffers (a collapsed node shows them)."""
        bufs = self.state.buffers.values()
        return sum(b.unread for b in bufs), sum(b.mentions for b in bufs)


class Tagged(NamedTuple):
    """An event and the session whose network side sent it."""

    sid: int
    event: ev.Event


class SessionQueue:
    """What a bridge puts its events on: the window's queue, each event tagged with ``sid``."""

    def __init__(self, target: queue.Queue[Tagged | ev.Event], sid: int) -> None:
        self.target = target
        self.sid = sid

    def put(self, item: ev.Event, block: bool = True, timeout: float | None = None) -> None:
        """Queue ``item`` for the window, tagged."""
        self.target.put(Tagged(self.sid, item), block, timeout)

    def put_nowait(self, item: ev.Event) -> None:
        """Queue ``item`` for the window, tagged, without waiting."""
        self.put(item, block=False)


Entry = tuple[Session, Buffer]


def listed(sessions: Sequence[Session], *, visible: bool = False) -> list[Entry]:
    """Every buffer of every session, in sidebar order: each server's buffer, then its channels
    and conversations. With ``visible``, a collapsed server contributes only its own buffer."""
    out: list[Entry] = []
    for s in sessions:
        for buf in s.state.ordered():
            if visible and s.collapsed and buf.kind != "server":
                continue
            out.append((s, buf))
    return out


def position(entries: Sequence[Entry], session: Session | None, current: str) -> int:
    """Where the buffer shown (``current`` of ``session``) is in ``entries``, or -1."""
    if session is None:
        return -1
    shown = session.state.buffer(current)
    return next((i for i, (s, b) in enumerate(entries) if s is session and b is shown), -1)


def step(entries: Sequence[Entry], here: int, by: int) -> Entry | None:
    """The entry ``by`` places from ``here`` (wrapping around), or None when there are none."""
    if not entries:
        return None
    return entries[(max(here, 0) + by) % len(entries)]


def next_unread(entries: Sequence[Entry], here: int) -> Entry | None:
    """The next entry to read after ``here``: one with mentions first, then one with unread,
    both searched round the list from the entry after ``here``, over every server."""
    start = here + 1 if here >= 0 else 0
    ring = [e for i, e in [*enumerate(entries)][start:] + [*enumerate(entries)][:start] if i != here]
    return next((e for e in ring if e[1].mentions), None) or next((e for e in ring if e[1].unread), None)
