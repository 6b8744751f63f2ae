"""What the window shows, without Tk: buffers, their lines, unread counts and members.

:class:`ChatState` applies :mod:`.events` and remembers what changed, so the window redraws only
that. Each buffer keeps at most ``max_lines`` lines (oldest dropped) so memory stays flat.
"""

from __future__ import annotations

import re
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Literal

from . import events as ev

LineKind = Literal["message", "action", "notice", "event", "info", "error"]
BufferKind = Literal["server", "channel", "query"]

SERVER = ""  # key and name of the server buffer
# The typing spec: receivers "SHOULD" consider an "active" notification over after 6 seconds.
TYPING_TIMEOUT = 6.0

_FOLD = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ[]\\~", "abcdefghijklmnopqrstuvwxyz{}|^")
# Prefix ranks for sorting members: ops first, then voiced, then the rest.
_PREFIX_ORDER = "~&@%+"
_CHAT_KINDS = ("message", "action", "notice")
MAX_REACTIONS = 20  # distinct reactions kept per message: a flood of new ones is ignored


def fold(name: str) -> str:
    """Case-fold a nick or channel name (rfc1459 casemapping, a superset of ascii)."""
    return name.translate(_FOLD)


def is_channel(name: str) -> bool:
    """Whether ``name`` is a channel name."""
    return name[:1] in "#&"


def now() -> datetime:
    """The current time, aware, in UTC (the timestamps of local lines)."""
    return datetime.now(UTC)


@dataclass(slots=True)
class Line:
    """One row of a buffer."""

    time: datetime
    kind: LineKind
    nick: str
    text: str
    mention: bool = False
    own: bool = False
    msgid: str | None = None
    deleted: bool = False  # redacted (draft/message-redaction): shown as "(message deleted)"
    reply_to: str | None = None  # the msgid this answers (+draft/reply): drawn with a quote


@dataclass(slots=True)
class Buffer:
    """A channel, a private conversation, or the server buffer."""

    name: str
    kind: BufferKind
    max_lines: int
    lines: deque[Line] = field(init=False)
    unread: int = 0
    mentions: int = 0
    topic: str = ""
    members: dict[str, ev.Member] = field(default_factory=dict)
    joined: bool = False
    # We left (/part, a kick, the server parted us): shown greyed until closed or joined again.
    parted: bool = False
    muted: bool = False  # no unread count and no bell; mentions still count
    # The last line seen when the user left this buffer: the "new messages" line goes after it.
    read_marker: Line | None = None
    history_exhausted: bool = False
    loading_older: bool = False
    # msgid -> reaction -> nicks, in order (see reactions.py)
    reactions: dict[str, dict[str, list[str]]] = field(default_factory=dict)
    # The account's read marker (draft/read-marker): the server's, and the last one we sent.
    server_read: datetime | None = None
    sent_read: datetime | None = None

    def __post_init__(self) -> None:
        self.lines = deque(maxlen=self.max_lines)

    @property
    def key(self) -> str:
        """The folded name, unique among buffers."""
        return fold(self.name)

    def sorted_members(self) -> list[ev.Member]:
        """Members ordered by rank (ops, voiced, others), then by name."""

        def rank(m: ev.Member) -> tuple[int, str]:
            best = min((_PREFIX_ORDER.index(c) for c in m.prefix if c in _PREFIX_ORDER), default=9)
            return best, fold(m.nick)

        return sorted(self.members.values(), key=rank)

    def find(self, msgid: str | None) -> Line | None:
        """The chat line with ``msgid``, newest first (replies usually answer recent lines)."""
        if not msgid:
            return None
        return next((ln for ln in reversed(self.lines) if ln.msgid == msgid and ln.kind in _CHAT_KINDS), None)

    def react(self, e: ev.ReactionChanged) -> bool:
        """Add (or take back) ``e.nick``'s reaction; whether anything changed.

        Kept per msgid even for a message not loaded (it may come with older history); at most
        :data:`MAX_REACTIONS` per message and ``max_lines`` messages' worth, the oldest dropped.
        """
        per = self.reactions.setdefault(e.msgid, {})
        if e.reaction not in per and (e.removed or len(per) >= MAX_REACTIONS):
            if not per:
                del self.reactions[e.msgid]
            return False
        nicks = per.setdefault(e.reaction, [])
        key = fold(e.nick)
        there = any(fold(n) == key for n in nicks)
        if e.removed == there:
            if e.removed:
                nicks[:] = [n for n in nicks if fold(n) != key]
            else:
                nicks.append(e.nick)
        changed = e.removed == there
        if not nicks:
            del per[e.reaction]
        if not per:
            del self.reactions[e.msgid]
        while len(self.reactions) > self.max_lines:
            del self.reactions[next(iter(self.reactions))]
        return changed

    def reaction_counts(self, msgid: str | None, me: str) -> list[tuple[str, int, bool]]:
        """``(reaction, how many, whether one is mine)`` for message ``msgid``, first come first."""
        mine = fold(me)
        per = self.reactions.get(msgid, {}) if msgid else {}
        return [(r, len(nicks), any(fold(n) == mine for n in nicks)) for r, nicks in per.items() if nicks]

    def oldest(self) -> Line | None:
        """The oldest chat line kept (what "load older" continues from)."""
        return next((ln for ln in self.lines if ln.kind in ("message", "action", "notice")), None)


@dataclass(slots=True)
class Changes:
    """What :meth:`ChatState.apply` changed since the window last drew."""

    appended: dict[str, list[Line]] = field(default_factory=dict)
    rebuilt: set[str] = field(default_factory=set)  # buffers to redraw from scratch
    members: set[str] = field(default_factory=set)
    topic: set[str] = field(default_factory=set)
    buffer_list: bool = False
    switched: bool = False  # another buffer is shown: redraw everything
    status: bool = False
    typing: set[str] = field(default_factory=set)  # buffers whose "is typing" line changed
    new_mention: bool = False
    mentions: list[tuple[str, Line]] = field(default_factory=list)  # (buffer name, line): for notifications
    channel_list: ev.ChannelListed | None = None  # a LIST answer arrived
    problems: list[ev.Problem] = field(default_factory=list)

    def line(self, buf: Buffer, line: Line) -> None:
        """Note a line appended to ``buf``."""
        if buf.key not in self.rebuilt:
            self.appended.setdefault(buf.key, []).append(line)


class ChatState:
    """Every buffer and the connection status, changed only by :meth:`apply` and the window."""

    def __init__(self, nick: str, max_lines: int = 2000, clock: Callable[[], float] = time.monotonic) -> None:
        self.nick = nick
        self.max_lines = max_lines
        self.clock = clock
        # Per buffer key: folded nick -> (nick, when its "active" notification runs out).
        self.typing: dict[str, dict[str, tuple[str, float]]] = {}
        self.network = ""
        self.elist = ""  # the server's ELIST token
        self.connection: ev.ConnectionState = "disconnected"
        self.connection_detail = ""
        self.away = False
        # Messages held back by the pacing: (where to, lines sent, lines queued), or None.
        self.sending: tuple[str, int, int] | None = None
        self.buffers: dict[str, Buffer] = {}
        self.current = SERVER
        # False while another server's buffer is shown (several servers in one window): then
        # ``current`` is only where this server's buffers resume, and counts unread like the rest.
        self.shown = True
        # Buffer switches so far; a channel the user asked to join is shown when it is joined,
        # unless the user has switched buffers since asking (then they are busy elsewhere).
        self.switches = 0
        self._wanted: dict[str, int] = {}
        self._down_shown = False  # the current outage has its line in the buffers already
        self.changes = Changes()
        self.muted: set[str] = set()  # folded names of muted buffers (remembered in the settings)
        self._mention_re = self._compile_mention(nick)
        # (buffer key, msgid) of an original that CHATHISTORY AROUND brought: the window jumps to it.
        self.jump_to: tuple[str, str] | None = None
        self._recount: set[str] = set()  # buffers whose unread count the read marker decides anew
        self.buffer(SERVER, create=True)

    # --- buffers ---------------------------------------------------------------------------------

    def buffer(self, name: str, create: bool = False) -> Buffer | None:
        """The buffer called ``name``; made when ``create`` and missing."""
        key = fold(name)
        buf = self.buffers.get(key)
        if buf is None and create:
            kind: BufferKind = "server" if name == SERVER else "channel" if is_channel(name) else "query"
            buf = Buffer(name=name, kind=kind, max_lines=self.max_lines, muted=key in self.muted)
            self.buffers[key] = buf
            self.changes.buffer_list = True
        return buf

    def is_shown(self, name: str) -> bool:
        """Whether ``name`` is the buffer the window shows."""
        return self.shown and fold(name) == fold(self.current)

    def ordered(self) -> list[Buffer]:
        """Buffers as listed: the server, then channels, then conversations, each by name."""
        order = {"server": 0, "channel": 1, "query": 2}
        return sorted(self.buffers.values(), key=lambda b: (order[b.kind], fold(b.name)))

    def close(self, name: str) -> None:
        """Forget a buffer (never the server buffer)."""
        key = fold(name)
        if key and key in self.buffers:
            del self.buffers[key]
            self.changes.buffer_list = True
            if fold(self.current) == key:
                self.current = SERVER

    def mark_read(self, name: str) -> None:
        """Clear the unread and mention counts of ``name`` as if it had been read."""
        buf = self.buffer(name)
        if buf is not None and (buf.unread or buf.mentions):
            buf.unread = buf.mentions = 0
            if buf.lines:
                buf.read_marker = buf.lines[-1]
            self.changes.buffer_list = True

    def set_muted(self, name: str, muted: bool) -> None:
        """Mute ``name`` (no unread count, no bell) or unmute it."""
        key = fold(name)
        if muted:
            self.muted.add(key)
        else:
            self.muted.discard(key)
        buf = self.buffers.get(key)
        if buf is not None:
            buf.muted = muted
            if muted:
                buf.unread = 0
            self.changes.buffer_list = True

    def switch(self, name: str) -> Buffer:
        """Show ``name``: the buffer left keeps a read marker, the one shown is read."""
        old = self.buffer(self.current)
        buf = self.buffer(name, create=True)
        assert buf is not None
        if old is not None and old is not buf and old.lines:
            old.read_marker = old.lines[-1]  # showing the same buffer again leaves nothing behind
        self.current = buf.name
        self.switches += 1
        self.changes.switched = True
        if buf.unread or buf.mentions:
            buf.unread = buf.mentions = 0
            self.changes.buffer_list = True
        return buf

    def expect_join(self, channels: tuple[str, ...] | list[str]) -> None:
        """The user asked to join ``channels``: show the first one joined, if they stay where they are."""
        for channel in channels:
            self._wanted[fold(channel)] = self.switches

    def add(self, buf: Buffer, line: Line, *, count: bool = True) -> None:
        """Append ``line`` to ``buf``, counting it as unread (and a mention) when not shown."""
        buf.lines.append(line)
        self.changes.line(buf, line)
        if line.mention and not buf.muted:
            self.changes.new_mention = True
            self.changes.mentions.append((buf.name, line))
        if count and not self.is_shown(buf.name) and (line.mention or not buf.muted):
            buf.unread += 1
            if line.mention:
                buf.mentions += 1
            self.changes.buffer_list = True

    def info(self, text: str, target: str | None = None, kind: LineKind = "info") -> None:
        """Show a local line in ``target`` (the current buffer by default)."""
        buf = self.buffer(self.current if target is None else target, create=True)
        assert buf is not None
        self.add(buf, Line(now(), kind, "", text), count=False)

    # --- mentions --------------------------------------------------------------------------------

    @staticmethod
    def _compile_mention(nick: str) -> re.Pattern[str]:
        # A mention is the nick as a word: "alice:" and "@alice" count, "malice" does not.
        return re.compile(r"(?<![\w-])@?" + re.escape(nick) + r"(?![\w-])", re.IGNORECASE)

    def mentions_me(self, text: str) -> bool:
        """Whether ``text`` names our nick as a word."""
        return bool(self.nick) and bool(self._mention_re.search(text))

    def set_nick(self, nick: str) -> None:
        """Our nick changed: mentions are matched against the new one."""
        self.nick = nick
        self._mention_re = self._compile_mention(nick)
        self.changes.status = True

    # --- events ----------------------------------------------------------------------------------

    def apply(self, event: ev.Event) -> None:
        """Change the state for ``event`` and note what the window must redraw."""
        handler = getattr(self, "_on_" + type(event).__name__, None)
        if handler is not None:
            handler(event)

    def _on_ConnectionChanged(self, e: ev.ConnectionChanged) -> None:
        self.connection, self.connection_detail = e.state, e.detail
        self.changes.status = True
        if e.state in ("disconnected", "reconnecting", "failed"):
            for buf in self.buffers.values():
                if buf.kind == "channel" and buf.joined:
                    buf.joined = False
            if self._down_shown:
                return  # each retry shows in the status bar; one line per outage is enough
            self._down_shown = True
            text = {
                "disconnected": "Disconnected",
                "reconnecting": "Disconnected; reconnecting",
                "failed": "Cannot connect",
            }[e.state]
            for buf in self.buffers.values():
                if buf.kind != "query":
                    last = buf.lines[-1] if buf.lines else None
                    # The server's ERROR line was just shown: do not repeat it.
                    repeated = last is not None and last.kind == "error" and last.text == e.detail
                    full = f"{text}: {e.detail}" if e.detail and not repeated else text
                    self.add(buf, Line(now(), "error", "", full), count=False)
        elif e.state == "connected":
            self._down_shown = False
            self.info("Connected" + (f" to {e.detail}" if e.detail else ""), SERVER)

    def _on_Registered(self, e: ev.Registered) -> None:
        self.set_nick(e.nick)
        self.network = e.network
        self.elist = e.elist
        where = f" to {e.network}" if e.network else ""
        self.info(f"Signed on{where} as {e.nick}", SERVER)

    def _chat_line(self, e: ev.ChatLine) -> Line:
        mention = not e.own and e.kind != "notice" and self.mentions_me(e.text)
        return Line(
            e.time, e.kind, e.nick, e.text, mention=mention, own=e.own, msgid=e.msgid, reply_to=e.reply_to
        )

    def _on_ChatLine(self, e: ev.ChatLine) -> None:
        target = e.target
        # Notices from the server itself, or to us outside any conversation, go to the server buffer.
        if e.kind == "notice" and (not e.nick or "." in e.nick) and self.buffer(target) is None:
            target = SERVER
        buf = self.buffer(target, create=True)
        assert buf is not None
        if e.msgid and any(ln.msgid == e.msgid for ln in list(buf.lines)[-50:]):
            return  # already shown (history replayed after a reconnect)
        self._stop_typing(buf.key, e.nick)  # the spec: a message ends its sender's typing
        line = self._chat_line(e)
        # A private message always counts as a mention: it was written to us.
        if buf.kind == "query" and not e.own and e.kind != "notice":
            line.mention = True
        self.add(buf, line, count=not e.own)

    # --- typing ---------------------------------------------------------------------------------

    def _on_Typing(self, e: ev.Typing) -> None:
        buf = self.buffer(e.target)
        if buf is None:
            return
        if e.state == "active":
            self.typing.setdefault(buf.key, {})[fold(e.nick)] = (e.nick, self.clock() + TYPING_TIMEOUT)
        else:
            self._stop_typing(buf.key, e.nick)
        self.changes.typing.add(buf.key)

    def _stop_typing(self, key: str, nick: str) -> None:
        typists = self.typing.get(key)
        if typists is not None and typists.pop(fold(nick), None) is not None:
            self.changes.typing.add(key)
            if not typists:
                del self.typing[key]

    def expire_typing(self) -> bool:
        """Forget typing notifications that ran out; whether any did."""
        now = self.clock()
        expired = False
        for key, typists in list(self.typing.items()):
            for nick, deadline in list(typists.values()):
                if deadline <= now:
                    self._stop_typing(key, nick)
                    expired = True
        return expired

    def typing_pending(self) -> bool:
        """Whether anyone's typing notification is still running (and will run out)."""
        return any(self.typing.values())

    def typing_text(self, name: str) -> str:
        """ "alice is typing…" for buffer ``name``, or ``""`` when nobody is."""
        nicks = sorted((nick for nick, _ in self.typing.get(fold(name), {}).values()), key=fold)
        if not nicks:
            return ""
        if len(nicks) == 1:
            return f"{nicks[0]} is typing…"
        if len(nicks) <= 3:
            return f"{', '.join(nicks[:-1])} and {nicks[-1]} are typing…"
        return "Several people are typing…"

    def _on_MessageRedacted(self, e: ev.MessageRedacted) -> None:
        buf = self.buffer(e.target)
        if buf is None:
            return
        line = next((ln for ln in buf.lines if ln.msgid == e.msgid), None)
        if line is None or line.deleted:
            return
        # message-redaction: clients "SHOULD hide or replace the content"; the text is dropped.
        line.text = ""
        line.deleted = True
        line.mention = False
        self.changes.appended.pop(buf.key, None)
        self.changes.rebuilt.add(buf.key)

    def _on_ReactionChanged(self, e: ev.ReactionChanged) -> None:
        buf = self.buffer(e.target)
        if buf is not None and buf.react(e) and buf.find(e.msgid) is not None:
            self.changes.appended.pop(buf.key, None)
            self.changes.rebuilt.add(buf.key)

    def _on_ReadMarkerChanged(self, e: ev.ReadMarkerChanged) -> None:
        # draft/read-marker: the account has read this far (here or on another device).
        buf = self.buffer(e.target)
        if buf is None:
            return
        if e.time is not None and (buf.server_read is None or e.time > buf.server_read):
            buf.server_read = e.time
        self.recount(buf)

    def recount(self, buf: Buffer) -> None:
        """Unread and mentions of ``buf`` from the server's read marker: others' lines newer than it;
        the "new messages" line goes after the last line it covers. No marker: nothing changes."""
        marker = buf.server_read
        if marker is None:
            return
        covered: Line | None = None
        unread: list[Line] = []
        for line in buf.lines:
            if line.time <= marker:
                covered = line
            elif line.kind in _CHAT_KINDS and not line.own:
                unread.append(line)
        current = self.is_shown(buf.name)
        old = buf.read_marker
        moved = old is None or old not in buf.lines or (covered is not None and covered.time >= old.time)
        if covered is not None and covered is not old and moved:
            buf.read_marker = covered
            if current:
                self.changes.appended.pop(buf.key, None)
                self.changes.rebuilt.add(buf.key)
        if current:
            return  # what is shown is being read
        mentions = sum(1 for line in unread if line.mention or buf.kind == "query")
        if (buf.unread, buf.mentions) != (len(unread), mentions):
            buf.unread, buf.mentions = len(unread), mentions
            self.changes.buffer_list = True

    def _on_Joined(self, e: ev.Joined) -> None:
        buf = self.buffer(e.channel, create=e.is_me)
        if buf is None:
            return
        if e.is_me:
            buf.joined = True
            if buf.parted:
                buf.parted = False
                self.changes.buffer_list = True
            buf.history_exhausted = False
            # A rejoin after a reconnect: what the server says now replaces what it said before
            # (a topic cleared meanwhile sends no RPL_TOPIC at all).
            buf.topic = ""
            buf.members = {}
            self.typing.pop(buf.key, None)
            self.changes.topic.add(buf.key)
            self.changes.members.add(buf.key)
            self.changes.typing.add(buf.key)
            if self._wanted.pop(buf.key, None) == self.switches:
                self.switch(buf.name)
        else:
            buf.members[fold(e.nick)] = ev.Member(e.nick)
            self.changes.members.add(buf.key)
        text = "You joined " + e.channel if e.is_me else f"{e.nick} joined {e.channel}"
        self.add(buf, Line(e.time, "event", e.nick, text), count=False)

    def _on_Parted(self, e: ev.Parted) -> None:
        buf = self.buffer(e.channel)
        if buf is None:
            return
        reason = f" ({e.reason})" if e.reason else ""
        if e.is_me:
            buf.joined = False
            buf.parted = True
            buf.members.clear()
            self.changes.buffer_list = True
            text = f"You left {e.channel}{reason}"
        else:
            buf.members.pop(fold(e.nick), None)
            self._stop_typing(buf.key, e.nick)
            text = f"{e.nick} left {e.channel}{reason}"
        self.changes.members.add(buf.key)
        self.add(buf, Line(e.time, "event", e.nick, text), count=False)

    def _on_Kicked(self, e: ev.Kicked) -> None:
        buf = self.buffer(e.channel)
        if buf is None:
            return
        reason = f" ({e.reason})" if e.reason else ""
        if e.is_me:
            buf.joined = False
            buf.parted = True
            buf.members.clear()
            self.changes.buffer_list = True
            self.add(buf, Line(e.time, "error", e.by, f"You were kicked from {e.channel} by {e.by}{reason}"))
            problem = ev.Problem("kicked", f"Kicked from {e.channel} by {e.by}{reason}", e.channel)
            self.changes.problems.append(problem)
        else:
            buf.members.pop(fold(e.nick), None)
            self.add(buf, Line(e.time, "event", e.nick, f"{e.by} kicked {e.nick}{reason}"), count=False)
        self.changes.members.add(buf.key)

    def _on_Quit(self, e: ev.Quit) -> None:
        key = fold(e.nick)
        reason = f" ({e.reason})" if e.reason else ""
        for buf in self.buffers.values():
            if key in buf.members or (buf.kind == "query" and buf.key == key):
                buf.members.pop(key, None)
                self._stop_typing(buf.key, e.nick)
                self.changes.members.add(buf.key)
                self.add(buf, Line(e.time, "event", e.nick, f"{e.nick} quit{reason}"), count=False)

    def _on_NickChanged(self, e: ev.NickChanged) -> None:
        old, new = fold(e.old), fold(e.new)
        if e.is_me:
            self.set_nick(e.new)
        text = f"You are now known as {e.new}" if e.is_me else f"{e.old} is now known as {e.new}"
        for buf in list(self.buffers.values()):
            member = buf.members.pop(old, None)
            if member is not None:
                buf.members[new] = replace(member, nick=e.new)
                self.changes.members.add(buf.key)
            if member is not None or (e.is_me and buf.kind == "server"):
                self.add(buf, Line(e.time, "event", e.new, text), count=False)
            elif buf.kind == "query" and buf.key == old:
                # The conversation follows the person.
                del self.buffers[old]
                buf.name = e.new
                self.buffers[new] = buf
                if fold(self.current) == old:
                    self.current = e.new
                self.changes.buffer_list = True
                self.add(buf, Line(e.time, "event", e.new, text), count=False)

    def _on_TopicChanged(self, e: ev.TopicChanged) -> None:
        buf = self.buffer(e.channel, create=True)
        assert buf is not None
        buf.topic = e.topic
        self.changes.topic.add(buf.key)
        if e.setter:
            text = f"{e.setter} set the topic: {e.topic}" if e.topic else f"{e.setter} cleared the topic"
            self.add(buf, Line(e.time or now(), "event", e.setter, text), count=False)

    def _on_ChannelRenamed(self, e: ev.ChannelRenamed) -> None:
        old, new = fold(e.old), fold(e.new)
        buf = self.buffers.get(old)
        if buf is None or (new != old and new in self.buffers):
            return
        # The buffer keeps its lines, unread counts and read marker under its new name.
        del self.buffers[old]
        buf.name = e.new
        self.buffers[new] = buf
        if fold(self.current) == old:
            self.current = e.new
            self.changes.switched = True
        if old in self._wanted:
            self._wanted[new] = self._wanted.pop(old)
        if old in self.typing:
            self.typing[new] = self.typing.pop(old)
        for table in (
            self.changes.appended,
            self.changes.rebuilt,
            self.changes.members,
            self.changes.topic,
            self.changes.typing,
        ):
            if old in table:
                if isinstance(table, dict):
                    table[new] = table.pop(old)
                else:
                    table.discard(old)
                    table.add(new)
        self.changes.buffer_list = True
        reason = f" ({e.reason})" if e.reason else ""
        self.add(buf, Line(e.time, "event", e.by, f"{e.old} is now {e.new}{reason}"), count=False)

    def _on_MembersChanged(self, e: ev.MembersChanged) -> None:
        buf = self.buffer(e.channel)  # not made again: a closed channel's last list may trail its PART
        if buf is None:
            return
        buf.members = {fold(m.nick): m for m in e.members}
        self.changes.members.add(buf.key)

    def _on_AwayChanged(self, e: ev.AwayChanged) -> None:
        key = fold(e.nick)
        if key == fold(self.nick):
            self.away = e.away
            self.changes.status = True
        for buf in self.buffers.values():
            member = buf.members.get(key)
            if member is not None and member.away != e.away:
                buf.members[key] = replace(member, away=e.away)
                self.changes.members.add(buf.key)

    def _on_HistoryLoaded(self, e: ev.HistoryLoaded) -> None:
        buf = self.buffer(e.target, create=True)
        assert buf is not None
        buf.loading_older = False
        if e.exhausted:
            buf.history_exhausted = True
        self._history_extras(buf, e)
        known = {ln.msgid for ln in buf.lines if ln.msgid}
        fresh = [self._chat_line(c) for c in e.lines if not (c.msgid and c.msgid in known)]
        for line in fresh:
            line.mention = False  # old mentions were seen (or missed) long ago; do not ring for them
        if not fresh:
            return
        # History goes before what is shown, in time order, within the line limit.
        existing = list(buf.lines)
        if not existing or fresh[-1].time <= existing[0].time:
            merged = [*fresh, *existing]  # the usual case: keep the server's order as given
        else:
            merged = sorted([*fresh, *existing], key=lambda ln: ln.time)
        buf.lines = deque(merged[-buf.max_lines :], maxlen=buf.max_lines)
        self.changes.appended.pop(buf.key, None)
        self.changes.rebuilt.add(buf.key)

    def _on_SendProgress(self, e: ev.SendProgress) -> None:
        self.sending = None if e.sent >= e.total else (e.target, e.sent, e.total)
        self.changes.status = True

    def _history_extras(self, buf: Buffer, e: ev.HistoryLoaded) -> None:
        """Reactions of a history page, the jump an AROUND asked for, unread by the server's marker."""
        changed = [buf.react(r) for r in e.reactions]
        if any(changed):
            self.changes.appended.pop(buf.key, None)
            self.changes.rebuilt.add(buf.key)
        if e.around is not None:
            self.jump_to = (buf.key, e.around)
            self.changes.rebuilt.add(buf.key)
        if e.lines:
            # recount() reads the merged lines: run it once they are in (end of this tick's events).
            self._recount.add(buf.key)

    def _on_Problem(self, e: ev.Problem) -> None:
        target = e.target if e.target and self.buffer(e.target) is not None else self.current
        self.info(e.text, target, kind="error")
        self.changes.problems.append(e)

    def _on_ServerText(self, e: ev.ServerText) -> None:
        # Text about a buffer goes there; about someone without a conversation (WHOIS), where the
        # user is reading; registration and other untargeted text, to the server buffer.
        target = SERVER
        if e.target:
            target = e.target if self.buffer(e.target) is not None else self.current
        buf = self.buffer(target, create=True)
        assert buf is not None
        self.add(buf, Line(e.time or now(), "info", "", e.text), count=False)

    def _on_ChannelListed(self, e: ev.ChannelListed) -> None:
        self.changes.channel_list = e

    def parted_hint(self, name: str) -> str:
        """What the input line says in a channel we left: how to rejoin, or close it."""
        buf = self.buffer(name)
        if buf is None or buf.kind != "channel" or not buf.parted:
            return ""
        return f"You left {buf.name}. /join {buf.name} to rejoin, Ctrl+W or /close to close it."

    def take_changes(self) -> Changes:
        """Hand over what changed since the last call and start afresh."""
        if self._recount:
            for key in self._recount:
                buf = self.buffers.get(key)
                if buf is not None:
                    self.recount(buf)
            self._recount.clear()
        changes, self.changes = self.changes, Changes()
        return changes
