"""ChanServ: channel registration with a founder and an access list (op and voice on join).

A registered channel is persistent (it survives restarts and being empty); nobody gets operator
status just by joining it first: members on the access list get theirs from ChanServ on join.
Founder and access list name accounts by their immutable ids (shown by name): when an account is
dropped its channels and entries go with it, and a new account of the same name has none of them.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from hubbub.protocol import Message
from hubbub.store.accounts import RegisteredChannel

from .services import service_mask, service_notice

if TYPE_CHECKING:
    from .app import Server
    from .session import Session
    from .world import Channel

LEVELS = {"op": "o", "voice": "v"}


class ChannelRegistry:
    """Registered channels, loaded from the account store and kept in memory."""

    def __init__(self, server: Server) -> None:
        self.server = server
        self.channels: dict[str, RegisteredChannel] = {}

    def load(self) -> None:
        """Read every registration; their channels exist (persistent) from start-up."""
        store = self.server.accounts.store
        self.channels = {c.key: c for c in store.channels()} if store is not None else {}

    def save(self, record: RegisteredChannel) -> None:
        """Store a registration and keep it."""
        self.server.accounts.write_later(
            lambda store: store.save_channel(record), f"save the registration of {record.key}"
        )
        self.channels[record.key] = record

    def access_of(self, channel: Channel, session: Session) -> str:
        """The prefix modes ``session``'s account holds on ``channel`` ("" for none)."""
        record = self.channels.get(channel.key_folded)
        if record is None or session.account_id is None:
            return ""
        return record.access.get(session.account_id, "")

    def name_of(self, account_id: str) -> str | None:
        """The name of the account with ``account_id``, or None if it was dropped."""
        account = self.server.accounts.by_id(account_id)
        return account.name if account is not None else None

    def apply_on_join(self, session: Session, channel: Channel) -> None:
        """Give a joining member the status the access list grants, announced by ChanServ."""
        modes = self.access_of(channel, session)
        if not modes or session not in channel.members:
            return
        self.server.world.set_prefix(channel, session, modes)
        if "o" in modes:
            self.server.history.operator_given(channel)
        out = Message.build(
            "MODE",
            channel.name,
            "+" + modes,
            *([session.nick] * len(modes)),
            source=service_mask(session, "ChanServ"),
        )
        self.server.delivery.publish(out, list(channel.members), event=True)


def _cs(session: Session, text: str) -> None:
    service_notice(session, "ChanServ", text)


def _channel_for(session: Session, args: list[str], usage: str) -> Channel | None:
    if not args:
        _cs(session, f"Syntax: {usage}")
        return None
    channel = session.server.world.find_channel(args[0])
    if channel is None:
        _cs(session, f"{args[0]} does not exist")
    return channel


def _cs_register(session: Session, args: list[str]) -> None:
    channel = _channel_for(session, args, "REGISTER <#channel>")
    if channel is None:
        return
    server = session.server
    registry = server.registry
    if session.account is None or session.account_id is None:
        _cs(session, "You must be logged in to register a channel")
    elif channel.key_folded in registry.channels:
        _cs(session, f"{channel.name} is already registered")
    elif not channel.is_op(session):
        _cs(session, f"You must be a channel operator of {channel.name} to register it")
    else:
        founder = session.account_id
        registry.save(RegisteredChannel(channel.key_folded, founder, {founder: "o"}, int(time.time() * 1000)))
        if not channel.persistent:
            channel.persistent = True
            server.channel_changed(channel)
        _cs(session, f"{channel.name} is now registered to {session.account}")


def _founder_channel(
    session: Session, args: list[str], usage: str
) -> tuple[Channel, RegisteredChannel] | None:
    channel = _channel_for(session, args, usage)
    if channel is None:
        return None
    record = session.server.registry.channels.get(channel.key_folded)
    if record is None:
        _cs(session, f"{channel.name} is not registered")
        return None
    if session.account_id is None or session.account_id != record.founder:
        _cs(session, f"Only the founder of {channel.name} may do that")
        return None
    return channel, record


def _cs_access(session: Session, args: list[str]) -> None:
    usage = "ACCESS <#channel> LIST | ADD <account> <op|voice> | DEL <account>"
    found = _founder_channel(session, args, usage)
    if found is None:
        return
    channel, record = found
    sub = args[1].upper() if len(args) > 1 else "LIST"
    registry = session.server.registry
    accounts = session.server.accounts
    named = accounts.get(args[2]) if len(args) > 2 else None
    if sub == "LIST":
        listed = sorted(
            (name, level)
            for name, level in ((registry.name_of(k), v) for k, v in record.access.items())
            if name is not None
        )
        entries = ", ".join(f"{name} ({'op' if v == 'o' else 'voice'})" for name, v in listed)
        _cs(session, f"Access list of {channel.name}: {entries}")
    elif sub in ("ADD", "DEL") and len(args) > 2 and named is None:
        _cs(session, f"{args[2]} is not a registered account")
    elif sub == "ADD" and named is not None and len(args) > 3 and args[3].lower() in LEVELS:
        access = {**record.access, named.id: LEVELS[args[3].lower()]}
        registry.save(RegisteredChannel(record.key, record.founder, access, record.registered_ms))
        _cs(session, f"{args[2]} now has {args[3].lower()} on {channel.name}")
    elif sub == "DEL" and named is not None and named.id != record.founder:
        access = {k: v for k, v in record.access.items() if k != named.id}
        registry.save(RegisteredChannel(record.key, record.founder, access, record.registered_ms))
        _cs(session, f"{args[2]} removed from the access list of {channel.name}")
    else:
        _cs(session, f"Syntax: {usage} (the founder stays)")


def _cs_drop(session: Session, args: list[str]) -> None:
    found = _founder_channel(session, args, "DROP <#channel>")
    if found is None:
        return
    channel, record = found
    server = session.server
    key = record.key
    server.accounts.write_later(lambda store: store.drop_channel(key), f"drop the registration of {key}")
    server.registry.channels.pop(record.key, None)
    _cs(session, f"{channel.name} is no longer registered")


def _cs_info(session: Session, args: list[str]) -> None:
    channel = _channel_for(session, args, "INFO <#channel>")
    if channel is None:
        return
    record = session.server.registry.channels.get(channel.key_folded)
    if record is None:
        _cs(session, f"{channel.name} is not registered")
    else:
        founder = session.server.registry.name_of(record.founder) or "a dropped account"
        _cs(session, f"{channel.name} is registered to {founder}")


def _cs_help(session: Session, args: list[str]) -> None:
    for line in (
        "REGISTER <#channel>  register a channel you operate (you become its founder)",
        "ACCESS <#channel> LIST | ADD <account> <op|voice> | DEL <account>",
        "INFO <#channel>  who founded it",
        "DROP <#channel>  unregister (founder only)",
    ):
        _cs(session, line)


CHANSERV: dict[str, Callable[[Session, list[str]], None]] = {
    "REGISTER": _cs_register,
    "ACCESS": _cs_access,
    "DROP": _cs_drop,
    "INFO": _cs_info,
    "HELP": _cs_help,
}
