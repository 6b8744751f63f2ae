"""ChanServ's commands: REGISTER, ACCESS, DROP, INFO and HELP (the registry is registry.py).

Run by ``/msg ChanServ <command>`` (service_commands.run_command) with the handler context.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from hubbub.store.accounts import RegisteredChannel

from ..registry import LEVELS
from ..services import service_notice
from .service_commands import ServiceCommand

if TYPE_CHECKING:
    from ..session import Session
    from ..world import Channel
    from .context import Context


def _cs(session: Session, text: str) -> None:
    service_notice(session, "ChanServ", text)


def _channel_for(ctx: Context, session: Session, args: list[str], usage: str) -> Channel[Session] | None:
    if not args:
        _cs(session, f"Syntax: {usage}")
        return None
    channel = ctx.world.find_channel(args[0])
    if channel is None:
        _cs(session, f"{args[0]} does not exist")
    return channel


def _cs_register(ctx: Context, session: Session, args: list[str]) -> None:
    channel = _channel_for(ctx, session, args, "REGISTER <#channel>")
    if channel is None:
        return
    registry = ctx.registry
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
            ctx.channel_changed(channel)
        _cs(session, f"{channel.name} is now registered to {session.account}")


def _founder_channel(
    ctx: Context, session: Session, args: list[str], usage: str
) -> tuple[Channel[Session], RegisteredChannel] | None:
    channel = _channel_for(ctx, session, args, usage)
    if channel is None:
        return None
    record = ctx.registry.channels.get(channel.key_folded)
    if record is None:
        _cs(session, f"{channel.name} is not registered")
        return None
    if session.account_id is None or session.account_id != record.founder:
        _cs(session, f"Only the founder of {channel.name} may do that")
        return None
    return channel, record


def _cs_access(ctx: Context, session: Session, args: list[str]) -> None:
    usage = "ACCESS <#channel> LIST | ADD <account> <op|voice> | DEL <account>"
    found = _founder_channel(ctx, session, args, usage)
    if found is None:
        return
    channel, record = found
    sub = args[1].upper() if len(args) > 1 else "LIST"
    registry = ctx.registry
    accounts = ctx.accounts
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


def _cs_drop(ctx: Context, session: Session, args: list[str]) -> None:
    found = _founder_channel(ctx, session, args, "DROP <#channel>")
    if found is None:
        return
    channel, record = found
    ctx.registry.drop(record.key)
    _cs(session, f"{channel.name} is no longer registered")


def _cs_info(ctx: Context, session: Session, args: list[str]) -> None:
    channel = _channel_for(ctx, session, args, "INFO <#channel>")
    if channel is None:
        return
    record = ctx.registry.channels.get(channel.key_folded)
    if record is None:
        _cs(session, f"{channel.name} is not registered")
    else:
        founder = ctx.registry.name_of(record.founder) or "a dropped account"
        _cs(session, f"{channel.name} is registered to {founder}")


def _cs_help(ctx: Context, session: Session, args: list[str]) -> None:
    for line in (
        "REGISTER <#channel>  register a channel you operate (you become its founder)",
        "ACCESS <#channel> LIST | ADD <account> <op|voice> | DEL <account>",
        "INFO <#channel>  who founded it",
        "DROP <#channel>  unregister (founder only)",
    ):
        _cs(session, line)


CHANSERV: dict[str, ServiceCommand] = {
    "REGISTER": _cs_register,
    "ACCESS": _cs_access,
    "DROP": _cs_drop,
    "INFO": _cs_info,
    "HELP": _cs_help,
}
