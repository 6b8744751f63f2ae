"""The command table: every command the server understands, in one literal table.

Like Ergo's ``irc/commands.go``: one row per command names its handler, the parameters it needs,
whether it may come before registration, whether only server operators may use it, whether it
reads history (and so waits for what was sent before it to be committed), its syntax and one line
of help. hubbub.server.handlers.dispatch applies the common checks (451, 461, 481,
421) from here, so no handler repeats them; HELP and the command reference in docs/protocol.md
are generated from it (``python -m hubbub.server.handlers.table docs/protocol.md`` rewrites that
section).

This module imports the handler modules; they never import it (HELP, which reads the table, is
therefore answered here, with the text hubbub.server.handlers.reference makes of the table).
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from hubbub.protocol import Message, numerics

from . import (
    channels,
    chathistory,
    chghost,
    login,
    messaging,
    metadata,
    modes,
    multiline,
    operators,
    presence,
    queries,
    readmarker,
    redact,
    reference,
    registration,
    rename,
    search,
    whois,
)

if TYPE_CHECKING:
    from ..session import Session
    from .context import Context

Handler = Callable[["Context", "Session", "Message"], None]


@dataclass(frozen=True, slots=True, kw_only=True)
class CommandSpec:
    """How to dispatch one command, and how to describe it."""

    handler: Handler
    min_params: int = 0  # fewer parameters get ERR_NEEDMOREPARAMS (461)
    before_registration: bool = False  # otherwise an unregistered client gets ERR_NOTREGISTERED (451)
    oper: bool = False  # only server operators (user mode +o); others get ERR_NOPRIVILEGES (481)
    after_commit: bool = False  # reads history: runs once what was recorded before it is committed
    syntax: str = ""  # the parameters, after the command name
    help: str = ""  # one line: what the command does


def handle_help(ctx: Context, session: Session, msg: Message) -> None:
    """HELP [<subject>]: RPL_HELPSTART, RPL_HELPTXT..., RPL_ENDOFHELP, or ERR_HELPNOTFOUND."""
    subject = msg.param(0) or "*"
    lines = reference.help_lines(COMMANDS, subject, oper="o" in session.umodes)
    if lines is None:
        session.reply(numerics.ERR_HELPNOTFOUND, subject)
        return
    # Modern IRC: RPL_HELPSTART carries the first line, RPL_HELPTXT the rest.
    session.reply(numerics.RPL_HELPSTART, subject, lines[0])
    for line in lines[1:]:
        session.reply(numerics.RPL_HELPTXT, subject, line)
    session.reply(numerics.RPL_ENDOFHELP, subject)


COMMANDS: dict[str, CommandSpec] = {
    # Registration and connection (registration.py)
    "CAP": CommandSpec(
        handler=registration.handle_cap,
        min_params=1,
        before_registration=True,
        syntax="LS [302] | LIST | REQ :<capabilities> | END",
        help="Negotiates IRCv3 capabilities.",
    ),
    "PASS": CommandSpec(
        handler=registration.handle_pass,
        min_params=1,
        before_registration=True,
        syntax="<password>",
        help="Gives the server password, before NICK and USER.",
    ),
    "NICK": CommandSpec(
        handler=registration.handle_nick,
        before_registration=True,
        syntax="<nick>",
        help="Chooses or changes your nickname.",
    ),
    "USER": CommandSpec(
        handler=registration.handle_user,
        min_params=4,
        before_registration=True,
        syntax="<username> <mode> <unused> <realname>",
        help="Gives your username and real name while registering.",
    ),
    "PING": CommandSpec(
        handler=registration.handle_ping,
        min_params=1,
        before_registration=True,
        syntax="<token>",
        help="Asks the server to answer with PONG.",
    ),
    "PONG": CommandSpec(
        handler=registration.handle_pong,
        before_registration=True,
        syntax="[<token>]",
        help="Answers the server's PING.",
    ),
    "QUIT": CommandSpec(
        handler=registration.handle_quit,
        before_registration=True,
        syntax="[<reason>]",
        help="Leaves the network.",
    ),
    # Accounts (login.py, readmarker.py, presence.py)
    "AUTHENTICATE": CommandSpec(
        handler=login.handle_authenticate,
        min_params=1,
        before_registration=True,
        syntax="<mechanism> | <base64> | + | *",
        help="Logs in to an account with SASL (PLAIN, SCRAM-SHA-256, or EXTERNAL over TLS).",
    ),
    "REGISTER": CommandSpec(
        handler=login.handle_register,
        min_params=3,
        before_registration=True,  # draft/account-registration: before-connect
        syntax="<account> <email> | * <password>",
        help="Registers an account named after your nick.",
    ),
    "VERIFY": CommandSpec(
        handler=login.handle_verify,
        min_params=2,
        before_registration=True,
        syntax="<account> <code>",
        help="Completes an account registration (none here needs it).",
    ),
    "MARKREAD": CommandSpec(
        handler=readmarker.handle_markread,
        syntax="<target> [timestamp=<time>]",
        help="Shows or moves your read marker in a conversation.",
    ),
    "METADATA": CommandSpec(
        handler=metadata.handle_metadata,
        min_params=2,
        syntax="<target> GET <key>{ <key>} | LIST | SET <key> [:<value>] | CLEAR | SUB <key>{ <key>}"
        " | UNSUB <key>{ <key>} | SUBS | SYNC",
        help="Shows, sets and subscribes to user and channel metadata (avatar, pronouns, status, ...).",
    ),
    "MONITOR": CommandSpec(
        handler=presence.handle_monitor,
        min_params=1,
        syntax="+ | - <nick>{,<nick>} | C | L | S",
        help="Watches nicks and tells you when they come and go.",
    ),
    # Messaging (messaging.py, chathistory.py, search.py, redact.py)
    "PRIVMSG": CommandSpec(
        handler=messaging.handle_privmsg,
        syntax="<target>{,<target>} <text>",
        help="Sends a message to channels or users.",
    ),
    "NOTICE": CommandSpec(
        handler=messaging.handle_notice,
        syntax="<target>{,<target>} <text>",
        help="Sends a notice, which is never answered automatically.",
    ),
    "TAGMSG": CommandSpec(
        handler=messaging.handle_tagmsg,
        syntax="<target>{,<target>}",
        help="Sends only message tags (for clients with message-tags).",
    ),
    "BATCH": CommandSpec(
        handler=multiline.handle_batch,
        min_params=1,
        syntax="+<ref> draft/multiline <target> | -<ref>",
        help="Opens or closes a multiline message (draft/multiline): its lines carry @batch=<ref>.",
    ),
    "CHATHISTORY": CommandSpec(
        handler=chathistory.handle_chathistory,
        min_params=1,
        after_commit=True,
        syntax="<subcommand> <target> <reference>... <limit>",
        help="Fetches stored messages: LATEST BEFORE AFTER AROUND BETWEEN TARGETS.",
    ),
    "SEARCH": CommandSpec(
        handler=search.handle_search,
        min_params=1,
        after_commit=True,  # reads history: what was sent before it must be found
        syntax="<attributes>",
        help="Searches stored messages (soju.im/search), e.g. SEARCH text=deploy;in=#ops;limit=20.",
    ),
    "REDACT": CommandSpec(
        handler=redact.handle_redact,
        min_params=2,
        after_commit=True,  # finds the message in history, so what was sent before must be stored
        syntax="<target> <msgid> [<reason>]",
        help="Deletes a message from history: your own, or any in a channel you operate.",
    ),
    # Channels (channels.py, modes.py)
    "JOIN": CommandSpec(
        handler=channels.handle_join,
        min_params=1,
        after_commit=True,  # the join replays recent history
        syntax="<channel>{,<channel>} [<key>{,<key>}]",
        help="Joins channels; JOIN 0 leaves them all.",
    ),
    "PART": CommandSpec(
        handler=channels.handle_part,
        min_params=1,
        syntax="<channel>{,<channel>} [<reason>]",
        help="Leaves channels.",
    ),
    "TOPIC": CommandSpec(
        handler=channels.handle_topic,
        min_params=1,
        syntax="<channel> [<topic>]",
        help="Shows or sets a channel's topic.",
    ),
    "NAMES": CommandSpec(
        handler=channels.handle_names,
        syntax="[<channel>{,<channel>}]",
        help="Lists the members of channels.",
    ),
    "KICK": CommandSpec(
        handler=channels.handle_kick,
        min_params=2,
        syntax="<channel> <nick>{,<nick>} [<reason>]",
        help="Removes users from a channel (channel operators only).",
    ),
    "INVITE": CommandSpec(
        handler=channels.handle_invite,
        min_params=2,
        syntax="<nick> <channel>",
        help="Invites a user into a channel.",
    ),
    "RENAME": CommandSpec(
        handler=rename.handle_rename,
        min_params=2,
        after_commit=True,  # looks for history already kept under the new name
        syntax="<channel> <new name> [<reason>]",
        help="Renames a channel, keeping its members, modes and history (channel operators only).",
    ),
    "MODE": CommandSpec(
        handler=modes.handle_mode,
        min_params=1,
        syntax="<nick> | <channel> [<modes> [<arguments>...]]",
        help="Shows or changes user modes (i B) or channel modes (b e I k l C i m n s t o v).",
    ),
    # Queries and presence (queries.py)
    "MOTD": CommandSpec(
        handler=queries.handle_motd,
        syntax="[<server>]",
        help="Shows the message of the day.",
    ),
    "LUSERS": CommandSpec(
        handler=queries.handle_lusers,
        syntax="[<mask> [<server>]]",
        help="Shows how many users and channels there are.",
    ),
    "VERSION": CommandSpec(
        handler=queries.handle_version,
        syntax="[<server>]",
        help="Shows the server's version and features.",
    ),
    "TIME": CommandSpec(
        handler=queries.handle_time,
        syntax="[<server>]",
        help="Shows the server's time.",
    ),
    "ADMIN": CommandSpec(
        handler=queries.handle_admin,
        syntax="[<server>]",
        help="Shows who runs this server.",
    ),
    "INFO": CommandSpec(
        handler=queries.handle_info,
        syntax="[<server>]",
        help="Shows information about this server's software.",
    ),
    "HELP": CommandSpec(
        handler=handle_help,
        syntax="[<command>]",
        help="Shows help on a command, or lists the commands.",
    ),
    "HELPOP": CommandSpec(
        handler=handle_help,
        syntax="[<command>]",
        help="The same as HELP, for clients used to other servers.",
    ),
    "AWAY": CommandSpec(
        handler=queries.handle_away,
        syntax="[<message>]",
        help="Marks you away with a message; without one, marks you back.",
    ),
    "SETNAME": CommandSpec(
        handler=queries.handle_setname,
        min_params=1,
        syntax="<realname>",
        help="Changes your real name.",
    ),
    "ISON": CommandSpec(
        handler=whois.handle_ison,
        min_params=1,
        syntax="<nick>{ <nick>}",
        help="Tells which of the nicks are online.",
    ),
    "USERHOST": CommandSpec(
        handler=whois.handle_userhost,
        min_params=1,
        syntax="<nick>{ <nick>}",
        help="Shows the user@host of up to five nicks.",
    ),
    "WHO": CommandSpec(
        handler=whois.handle_who,
        syntax="<channel> | <mask> [o][%<fields>[,<token>]]",
        help="Lists users; WHOX fields are supported.",
    ),
    "WHOIS": CommandSpec(
        handler=whois.handle_whois,
        syntax="[<server>] <nick>",
        help="Shows information about a user.",
    ),
    "WHOWAS": CommandSpec(
        handler=whois.handle_whowas,
        syntax="<nick>{,<nick>} [<count>]",
        help="Shows who used a nick that is gone.",
    ),
    "LIST": CommandSpec(
        handler=queries.handle_list,
        syntax="[<channel>{,<channel>} | <conditions>] [<server>]",
        help="Lists channels, optionally filtered (ELIST M N U).",
    ),
    # Server operators (operators.py, chghost.py)
    "OPER": CommandSpec(
        handler=operators.handle_oper,
        min_params=2,
        syntax="<name> <password>",
        help="Makes you a server operator.",
    ),
    "KILL": CommandSpec(
        handler=operators.handle_kill,
        min_params=1,
        oper=True,
        syntax="<nick> [<reason>]",
        help="Disconnects a user.",
    ),
    "KLINE": CommandSpec(
        handler=operators.handle_kline,
        min_params=1,
        oper=True,
        syntax="[<minutes>] <nick!user@host> | $a:<account> [<reason>]",
        help="Bans a mask or an account from the server.",
    ),
    "UNKLINE": CommandSpec(
        handler=operators.handle_unkline,
        min_params=1,
        oper=True,
        syntax="<nick!user@host> | $a:<account>",
        help="Lifts a mask or account ban.",
    ),
    "DLINE": CommandSpec(
        handler=operators.handle_dline,
        min_params=1,
        oper=True,
        syntax="[<minutes>] <address> | <network/prefix> [<reason>]",
        help="Bans an IP address or range from the server.",
    ),
    "UNDLINE": CommandSpec(
        handler=operators.handle_undline,
        min_params=1,
        oper=True,
        syntax="<address> | <network/prefix>",
        help="Lifts an IP ban.",
    ),
    "WALLOPS": CommandSpec(
        handler=operators.handle_wallops,
        min_params=1,
        oper=True,
        syntax="<text>",
        help="Sends a message to every operator and every user with mode +w.",
    ),
    "REHASH": CommandSpec(
        handler=operators.handle_rehash,
        oper=True,
        help="Reads the configuration again; nobody is disconnected.",
    ),
    "HISTORY": CommandSpec(
        handler=operators.handle_history,
        min_params=2,
        oper=True,
        syntax="DELETE <channel> | <nick>,<nick> | @<key>",
        help="Deletes the stored history of a channel or a conversation.",
    ),
    "SAMODE": CommandSpec(
        handler=operators.handle_samode,
        min_params=2,
        oper=True,
        syntax="<channel> <modes> [<arguments>...]",
        help="Changes a channel's modes without being its operator.",
    ),
    "CHANNEL": CommandSpec(
        handler=operators.handle_channel,
        min_params=2,
        oper=True,
        syntax="DROP <channel> [HISTORY]",
        help="Forgets a durable channel and ends it now; HISTORY deletes its messages too.",
    ),
    "CHGHOST": CommandSpec(
        handler=chghost.handle_chghost,
        min_params=3,
        oper=True,
        syntax="<nick> <user> <host>",
        help="Changes the user and host a user is shown with.",
    ),
}


def main(argv: list[str]) -> None:
    """Print the command reference, or with a path rewrite that page's generated section."""
    if not argv:
        print(reference.markdown(COMMANDS), end="")
        return
    path = Path(argv[0])
    path.write_text(reference.with_markdown(COMMANDS, path.read_text()))


if __name__ == "__main__":
    main(sys.argv[1:])
