"""The server's world: users, channels and memberships, changed only on the event loop.

DESIGN.md principle 3: plain objects, one owner, no locks. The World is the only writer of who
is where and who is called what; handlers read it and ask it for changes. It is the state layer
(docs/architecture.md): it knows its users only as :class:`Member` (a M is one), so it
imports nothing of the server above it.

Users and channels are indexed twice: by casefolded name, which says which one a name means, and
by skeleton (:func:`hubbub.protocol.skeleton`), which says whether a new name would pass for one
in use. A nick or channel name is free only when neither index holds it.
"""

from __future__ import annotations

import time
from collections import Counter, deque
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Generic, Protocol, Self, TypeVar

from hubbub.protocol import Casemapping, casefold, match_mask, skeleton

# Channel membership prefixes, highest first (ISUPPORT PREFIX=(ov)@+)
PREFIX_MODES = "ov"
PREFIX_SYMBOLS = "@+"
SYMBOL_OF = dict(zip(PREFIX_MODES, PREFIX_SYMBOLS, strict=True))
MODE_OF_SYMBOL = dict(zip(PREFIX_SYMBOLS, PREFIX_MODES, strict=True))


class Member(Protocol):
    """What the World reads and writes of a user's connection (a M)."""

    nick: str
    user: str
    host: str
    realname: str
    away: str | None
    account: str | None  # the account logged in to, if any (matched by ``a:`` extbans)
    umodes: frozenset[str]
    channels: dict[str, Channel[Self]]
    primary: Self | None  # the nick holder this device is a sibling of (multiple devices)
    siblings: tuple[Self, ...]

    @property
    def hostmask(self) -> str:
        """``nick!user@host``."""

    @property
    def folded(self) -> str:
        """The casefolded nick."""

    @property
    def devices(self) -> list[Self]:
        """Every connection of this user, the nick holder first."""


M = TypeVar("M", bound=Member)

# The modes a new channel has (+nt); one frozenset that every channel with them shares.
DEFAULT_CHANNEL_MODES: frozenset[str] = frozenset("nt")

# Extended bans (ISUPPORT ``EXTBAN=,am``, no prefix: ``<type>:<data>`` as InspIRCd writes them).
# ``a:<account mask>`` is a matching type: it matches users logged in to an account the mask
# matches, in +b, +e and +I. ``m:<mask>`` is an acting type: a member it matches may join but not
# speak; its ``<mask>`` is a hostmask or an ``a:`` extban (``m:a:bob``), and ``+e m:<mask>`` exempts.
EXTBAN_ACCOUNT = "a"
EXTBAN_MUTE = "m"
EXTBAN_TYPES = EXTBAN_ACCOUNT + EXTBAN_MUTE


def extban_type(mask: str) -> str | None:
    """The extban type of a list entry (``"a"`` for ``a:bob``), or None for a plain hostmask."""
    if len(mask) >= 2 and mask[1] == ":" and mask[0] in EXTBAN_TYPES:
        return mask[0]
    return None


def mask_matches(mask: str, session: Member, casemapping: Casemapping) -> bool:
    """Whether the list entry ``mask`` (a hostmask or a matching extban) matches ``session``.

    An acting extban (``m:``) matches nobody here: it does not keep anyone out (see
    :meth:`Channel.is_muted`).
    """
    kind = extban_type(mask)
    if kind is None:
        return match_mask(mask, session.hostmask, casemapping)
    if kind == EXTBAN_ACCOUNT:
        account = session.account
        return account is not None and match_mask(mask[2:], account, casemapping)
    return False


@dataclass(slots=True)
class ListEntry:
    """One entry of a ban, exception or invite-exception list."""

    mask: str
    setter: str
    set_at: float


class Channel(Generic[M]):
    """A channel and everything about it that outlives a single message.

    A plain class rather than a dataclass: mypyc cannot load a generic dataclass it compiled
    (mypyc issue #827), and this module is compiled in the optional build (docs/performance.md).
    """

    __slots__ = (
        "bans",
        "created",
        "excepts",
        "had_ops",
        "invex",
        "invited",
        "key",
        "key_folded",
        "limit",
        "members",
        "metadata",
        "modes",
        "name",
        "persistent",
        "recorded_private",
        "renamed_at",
        "skeleton",
        "topic",
        "topic_setter",
        "topic_time",
    )

    def __init__(self, name: str, key_folded: str, skeleton: str = "") -> None:
        self.name = name
        self.key_folded = key_folded
        self.skeleton = skeleton  # the look-alike key of the name (World.add_channel sets it)
        self.created = time.time()
        self.members: dict[M, str] = {}  # member -> prefix modes, e.g. "ov"
        self.topic = ""
        self.topic_setter = ""
        self.topic_time = 0.0
        # Replaced, never changed in place: most channels share the default's one frozenset.
        self.modes: frozenset[str] = DEFAULT_CHANNEL_MODES
        self.key: str | None = None
        self.limit: int | None = None
        # +b, +e, +I: tuples replaced on change (set_list), () for most channels, which have none.
        self.bans: tuple[ListEntry, ...] = ()
        self.excepts: tuple[ListEntry, ...] = ()
        self.invex: tuple[ListEntry, ...] = ()
        # Users a channel operator invited and who have not joined since (World.invite). The
        # invite is the user's, not its nick's (a nick taken over carries none), and goes with the
        # connection. Made at the first invite: most channels never have one.
        self.invited: set[M] | None = None
        # Outlives being empty: configured, registered or durable (history.py).
        self.persistent = False
        self.had_ops = False  # somebody was its operator once: nobody becomes one by joining first
        self.recorded_private = False  # what the store last noted of +i/+k/+s (history.py)
        self.renamed_at: float | None = None  # clock time of its last RENAME (channel_rename_interval)
        self.metadata: dict[str, str] = {}  # draft/metadata-2, set by operators

    def __repr__(self) -> str:
        return f"Channel({self.name!r}, members={len(self.members)})"

    @property
    def created_ms(self) -> int:
        """``created`` in whole milliseconds, as the store keeps it (exact, not truncated)."""
        return round(self.created * 1000)

    def is_op(self, session: M) -> bool:
        """Whether ``session`` holds channel operator status here."""
        return "o" in self.members.get(session.primary or session, "")

    def prefix_of(self, session: M, multi: bool = False) -> str:
        """The membership prefix symbols of ``session`` (highest only unless ``multi``)."""
        modes = self.members.get(session.primary or session, "")
        symbols = "".join(SYMBOL_OF[m] for m in PREFIX_MODES if m in modes)
        return symbols if multi else symbols[:1]

    def list_for(self, mode: str) -> tuple[ListEntry, ...]:
        """The list behind list mode ``b``, ``e`` or ``I``."""
        return {"b": self.bans, "e": self.excepts, "I": self.invex}[mode]

    def set_list(self, mode: str, entries: tuple[ListEntry, ...]) -> None:
        """Replace the list behind list mode ``b``, ``e`` or ``I``."""
        if mode == "b":
            self.bans = entries
        elif mode == "e":
            self.excepts = entries
        else:
            self.invex = entries

    def matches(self, entries: Iterable[ListEntry], session: M, casemapping: Casemapping) -> bool:
        """Whether any entry matches ``session``: its ``nick!user@host``, or its account (``a:``)."""
        return any(mask_matches(e.mask, session, casemapping) for e in entries)

    def is_muted(self, session: M, casemapping: Casemapping) -> bool:
        """Muted by an ``m:`` ban and not exempted by an ``m:`` exception."""

        def muting(entries: Iterable[ListEntry]) -> bool:
            return any(
                extban_type(e.mask) == EXTBAN_MUTE and mask_matches(e.mask[2:], session, casemapping)
                for e in entries
            )

        return muting(self.bans) and not muting(self.excepts)

    def is_banned(self, session: M, casemapping: Casemapping) -> bool:
        """Banned (+b) and not excepted (+e)."""
        return self.matches(self.bans, session, casemapping) and not self.matches(
            self.excepts, session, casemapping
        )

    def mode_string(self, show_key: bool) -> tuple[str, ...]:
        """``+ntk key`` style mode reply parameters; the key is hidden from non-members."""
        flags = "".join(sorted(self.modes))
        params: list[str] = []
        if self.key is not None:
            flags += "k"
            params.append(self.key if show_key else "*")
        if self.limit is not None:
            flags += "l"
            params.append(str(self.limit))
        return ("+" + flags, *params)


@dataclass(slots=True)
class WhowasEntry:
    """What WHOWAS remembers of a nick that left."""

    nick: str
    user: str
    host: str
    realname: str
    left_at: float


class World(Generic[M]):
    """All users and channels of this server, indexed by casefolded name."""

    def __init__(self, casemapping: Casemapping, whowas_size: int) -> None:
        self.casemapping: Casemapping = casemapping
        self.users: dict[str, M] = {}
        self.channels: dict[str, Channel[M]] = {}
        # Skeleton of each nick in use -> its holder; of each channel -> the channels with it (more
        # than one only for channels saved before look-alikes were refused, or configured so).
        self.nick_skeletons: dict[str, M] = {}
        self.channel_skeletons: dict[str, list[Channel[M]]] = {}
        # MONITOR: casefolded nick -> the sessions watching it
        self.monitors: dict[str, set[M]] = {}
        # Casefolded account name -> its logged-in sessions (read markers, multiple devices)
        self.accounts: dict[str, set[M]] = {}
        self.whowas: deque[tuple[str, WhowasEntry]] = deque(maxlen=max(whowas_size, 1))
        self.unregistered = 0
        self.max_users = 0  # the most users registered at once (LUSERS)
        self.started = time.time()
        # Registered users per user mode, kept as modes change so LUSERS costs nothing per user.
        self.umode_counts: Counter[str] = Counter()
        # One frozenset per combination of user modes, shared by every user who has it (set_umode).
        self._umode_sets: dict[frozenset[str], frozenset[str]] = {}
        # The channels each user holds an invite into (Channel.invited), to drop them when it goes.
        self._invites: dict[M, list[Channel[M]]] = {}

    def set_umode(self, session: M, mode: str, on: bool) -> bool:
        """Set or clear user mode ``mode`` on ``session``; return whether anything changed."""
        if on == (mode in session.umodes):
            return False
        # Replaced, never changed in place: sessions with the same modes share one frozenset.
        if on:
            modes = session.umodes | {mode}
            self.umode_counts[mode] += 1
        else:
            modes = session.umodes - {mode}
            self.umode_counts[mode] -= 1
        session.umodes = self._umode_sets.setdefault(modes, modes)
        return True

    def forget_umodes(self, session: M) -> None:
        """A registered user left: take its modes out of the counts."""
        for mode in session.umodes:
            self.umode_counts[mode] -= 1

    def add_login(self, session: M, account: str) -> None:
        """Index ``session`` under ``account`` (casefolded)."""
        self.accounts.setdefault(account, set()).add(session)

    def drop_login(self, session: M, account: str) -> None:
        """Take ``session`` out of ``account``'s sessions."""
        sessions = self.accounts.get(account)
        if sessions is not None:
            sessions.discard(session)
            if not sessions:
                del self.accounts[account]

    def fold(self, name: str) -> str:
        """Casefold ``name`` under this server's casemapping."""
        return casefold(name, self.casemapping)

    def find_user(self, nick: str) -> M | None:
        """The registered user with ``nick``, if any."""
        return self.users.get(self.fold(nick))

    def nick_holder(self, nick: str) -> M | None:
        """The user whose nick is ``nick`` (in any case) or looks like it, if any."""
        holder = self.users.get(self.fold(nick))
        return holder if holder is not None else self.nick_skeletons.get(skeleton(nick))

    def find_channel(self, name: str) -> Channel[M] | None:
        """The channel called ``name``, if it exists."""
        return self.channels.get(self.fold(name))

    def lookalike_channel(self, name: str, besides: Channel[M] | None = None) -> Channel[M] | None:
        """A channel of another name that ``name`` looks like (same skeleton), if any.

        ``besides`` is left out: a channel being renamed may take a name that looks like its own.
        """
        folded = self.fold(name)
        for channel in self.channel_skeletons.get(skeleton(name), ()):
            if channel.key_folded != folded and channel is not besides:
                return channel
        return None

    def add_channel(self, name: str) -> Channel[M]:
        """Create the channel ``name`` (which must not exist yet)."""
        channel: Channel[M] = Channel(name=name, key_folded=self.fold(name), skeleton=skeleton(name))
        self.channels[channel.key_folded] = channel
        self.channel_skeletons.setdefault(channel.skeleton, []).append(channel)
        return channel

    # who is where and who is called what: the only writers ------------------------------------

    def join(self, channel: Channel[M], session: M, modes: str = "") -> None:
        """Put every device of ``session``'s user in ``channel``; the user gets ``modes`` (``"o"``)."""
        for device in session.devices:
            channel.members[device] = ""
            device.channels[channel.key_folded] = channel
        channel.members[session] = modes

    def set_prefix(self, channel: Channel[M], session: M, modes: str) -> None:
        """Set the prefix modes (``"ov"``) of member ``session`` of ``channel``."""
        channel.members[session] = "".join(m for m in PREFIX_MODES if m in modes)

    def leave(self, channel: Channel[M], session: M) -> bool:
        """Take every device of ``session``'s user out of ``channel``; True if it is now empty."""
        for device in session.devices:
            channel.members.pop(device, None)
            device.channels.pop(channel.key_folded, None)
        return not channel.members

    def invite(self, channel: Channel[M], session: M) -> None:
        """Let ``session`` into ``channel`` once past +i (and what the settings let an invite
        pass), until it joins or leaves the network."""
        if channel.invited is None:
            channel.invited = set()
        channel.invited.add(session)
        held = self._invites.setdefault(session, [])
        if channel not in held:
            held.append(channel)

    def use_invite(self, channel: Channel[M], session: M) -> None:
        """``session`` joined ``channel``: an invite lets in once."""
        if channel.invited is not None and session in channel.invited:
            channel.invited.discard(session)
            held = self._invites.get(session)
            if held is not None:
                held.remove(channel)
                if not held:
                    del self._invites[session]

    def forget_invites(self, session: M) -> None:
        """``session`` left the network: its invites go with it."""
        for channel in self._invites.pop(session, ()):
            if channel.invited is not None:
                channel.invited.discard(session)

    def remove_channel(self, channel: Channel[M]) -> None:
        """Forget ``channel`` (it was emptied or dropped)."""
        if self.channels.get(channel.key_folded) is channel:
            del self.channels[channel.key_folded]
        alike = self.channel_skeletons.get(channel.skeleton)
        if alike is not None and channel in alike:
            alike.remove(channel)
            if not alike:
                del self.channel_skeletons[channel.skeleton]

    def rename_channel(self, channel: Channel[M], name: str) -> str:
        """``channel`` is called ``name`` from now on (IRCv3 draft/channel-rename); return its old key.

        The caller has made sure that no other channel holds ``name`` or looks like it. Both
        indexes and every member's own index of its channels move to the new name; everything else
        about the channel (members, modes, lists, invites) stays as it is.
        """
        old_key = channel.key_folded
        new_key = self.fold(name)
        self.remove_channel(channel)
        channel.name = name
        channel.key_folded = new_key
        channel.skeleton = skeleton(name)
        self.channels[new_key] = channel
        self.channel_skeletons.setdefault(channel.skeleton, []).append(channel)
        for member in channel.members:
            if member.channels.get(old_key) is channel:
                del member.channels[old_key]
            member.channels[new_key] = channel
        return old_key

    def claim_nick(self, session: M) -> None:
        """A user registers under its nick."""
        self.users[self.fold(session.nick)] = session
        self.nick_skeletons[skeleton(session.nick)] = session

    def _release_nick(self, session: M) -> bool:
        folded = self.fold(session.nick)
        held = self.users.get(folded) is session
        if held:
            del self.users[folded]
        key = skeleton(session.nick)
        if self.nick_skeletons.get(key) is session:
            del self.nick_skeletons[key]
        return held

    def rename(self, session: M, nick: str) -> None:
        """The user ``session`` (every device of it) is called ``nick`` from now on."""
        self._release_nick(session)
        for device in session.devices:
            device.nick = nick
        self.claim_nick(session)

    def quit(self, session: M) -> bool:
        """The user leaves every channel and its nick; True if it held the nick (it is free now).

        Channels left empty stay in the world: whether they go is the caller's to decide.
        """
        for channel in list(session.channels.values()):
            self.leave(channel, session)
        session.channels.clear()
        return self._release_nick(session)

    def attach_device(self, session: M, holder: M) -> None:
        """Make the not yet registered ``session`` another device of ``holder``'s user."""
        session.primary = holder
        holder.siblings = (*holder.siblings, session)  # a tuple, () for most: no list per user
        session.nick = holder.nick
        session.user = holder.user
        session.host = holder.host
        session.realname = holder.realname
        session.away = holder.away

    def seat_device(self, session: M) -> list[Channel[M]]:
        """Put an attached device in its user's channels; return them."""
        holder = session.primary
        if holder is None:
            return []
        for key, channel in holder.channels.items():
            channel.members.setdefault(session, "")
            session.channels[key] = channel
        return list(holder.channels.values())

    def detach_device(self, session: M) -> bool:
        """``session`` is going; True if another device keeps the nick (then peers see nothing).

        A sibling just leaves its channels; a holder with siblings hands its nick, memberships and
        prefixes to the first of them.
        """
        holder = session.primary
        if holder is not None:
            holder.siblings = tuple(s for s in holder.siblings if s is not session)
            for channel in session.channels.values():
                channel.members.pop(session, None)
            session.channels.clear()
            session.primary = None
            return True
        if not session.siblings:
            return False
        heir, *rest = session.siblings
        session.siblings = ()
        heir.primary = None
        heir.siblings = tuple(rest)
        for sibling in rest:
            sibling.primary = heir
        for channel in session.channels.values():
            channel.members[heir] = channel.members.pop(session, "")
        session.channels.clear()
        if self.users.get(session.folded) is session:
            self.users[session.folded] = heir
        key = skeleton(session.nick)
        if self.nick_skeletons.get(key) is session:
            self.nick_skeletons[key] = heir
        return True

    def remember(self, session: M) -> None:
        """Record a departing nick for WHOWAS."""
        entry = WhowasEntry(session.nick, session.user, session.host, session.realname, time.time())
        self.whowas.appendleft((self.fold(session.nick), entry))

    def whowas_for(self, nick: str) -> Iterator[WhowasEntry]:
        """Remembered entries for ``nick``, newest first."""
        folded = self.fold(nick)
        return (entry for key, entry in self.whowas if key == folded)

    def peers_of(self, session: M) -> set[M]:
        """Everyone who shares at least one channel with ``session`` (not ``session`` itself)."""
        peers: set[M] = set()
        for channel in session.channels.values():
            peers.update(channel.members)
        peers.discard(session)
        return peers
