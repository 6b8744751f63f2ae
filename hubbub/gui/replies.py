"""Server replies as a person reads them: numerics and standard replies turned into sentences.

Registration sends much that only programs need (RPL_MYINFO, ISUPPORT, counts that the text repeats);
:func:`describe` returns ``None`` for those and a readable line for the rest. Errors are always kept.
"""

from __future__ import annotations

from datetime import datetime

# Machine-oriented replies: the client library has used them, a person has nothing to read there.
# RPL_MYINFO, RPL_ISUPPORT, RPL_SNOMASK, RPL_BOUNCE, RPL_YOURID, RPL_ENDOFMOTD, RPL_ENDOFWHOIS,
# RPL_ENDOFWHO, RPL_LISTSTART, RPL_ENDOFWHOWAS.
HIDDEN = frozenset({"004", "005", "008", "010", "042", "376", "318", "315", "321", "369"})
# The text after the counts says it all ("Current local users 1, max 1"): RPL_WELCOME..RPL_CREATED,
# RPL_LUSERCLIENT, RPL_LUSERME, RPL_LOCALUSERS, RPL_GLOBALUSERS, RPL_UNAWAY, RPL_NOWAWAY.
TRAILING_ONLY = frozenset({"001", "002", "003", "251", "255", "265", "266", "305", "306"})
MOTD = frozenset({"372", "375"})
STANDARD_REPLIES = frozenset({"FAIL", "WARN", "NOTE"})


def is_error(command: str) -> bool:
    """Whether ``command`` (a numeric or a standard reply) reports a failure."""
    if command == "422":  # ERR_NOMOTD: a server without a message of the day is no failure
        return False
    return command == "FAIL" or (command.isdigit() and command[:1] in "45")


def _duration(seconds: int) -> str:
    minutes, secs = divmod(max(0, seconds), 60)
    hours, minutes = divmod(minutes, 60)
    days, hours = divmod(hours, 24)
    parts = [(days, "d"), (hours, "h"), (minutes, "min"), (secs, "s")]
    shown = [f"{n} {unit}" for n, unit in parts if n]
    return " ".join(shown[:2]) or "0 s"


def _whois(command: str, p: tuple[str, ...]) -> str | None:
    nick = p[0]
    if command == "311" and len(p) >= 5:  # nick user host * :realname
        return f"{nick} is {p[1]}@{p[2]} ({p[4]})" if p[4] else f"{nick} is {p[1]}@{p[2]}"
    if command == "312" and len(p) >= 3:  # nick server :server info
        return f"{nick} is on {p[1]} ({p[2]})"
    if command == "317" and len(p) >= 3 and p[1].isdigit():  # nick idle signon :text
        text = f"{nick} has been idle {_duration(int(p[1]))}"
        if p[2].isdigit() and len(p) >= 4:
            signon = datetime.fromtimestamp(int(p[2])).astimezone()
            text += f", online since {signon:%Y-%m-%d %H:%M}"
        return text
    if command == "319" and len(p) >= 2:  # nick :channels
        return f"{nick} is in {p[-1]}"
    if command == "330" and len(p) >= 3:  # nick account :is logged in as
        return f"{nick} is logged in as {p[1]}"
    if command == "301" and len(p) >= 2:  # nick :away message
        return f"{nick} is away: {p[-1]}"
    return None


WHOIS = frozenset({"301", "311", "312", "317", "319", "330"})


def describe(command: str, params: tuple[str, ...]) -> str | None:
    """What to show for a server reply, or ``None`` to show nothing.

    ``params`` are those after our own nick for a numeric, or all of them for ``FAIL``/``WARN``/``NOTE``.
    """
    p = tuple(params)
    if command in STANDARD_REPLIES:
        # <command> <code> [<context>...] <description>: the description is meant for people, the
        # code for programs; the command and context say what it is about ("CHATHISTORY LATEST #x").
        if len(p) >= 3:
            # Context words made for programs ("msgid=...", "*") say nothing to a person.
            about = " ".join(x for x in (p[0], *p[2:-1]) if x != "*" and "=" not in x)
            return f"{about}: {p[-1]}" if about else p[-1]
        return " ".join(p) or command
    if not p:
        return None if command in HIDDEN else command
    if command in HIDDEN or (command.startswith("0") and command not in TRAILING_ONLY):
        return None
    if command in TRAILING_ONLY:
        return p[-1]
    if command in MOTD:
        text = p[-1]
        text = text[2:] if text.startswith("- ") else text.removeprefix("-")
        if command == "375":
            text = text.rstrip().removesuffix(" -").rstrip()
        return text
    if command in WHOIS:
        whois = _whois(command, p)
        if whois is not None:
            return whois
    if command == "322" and len(p) >= 2:  # RPL_LIST: channel count :topic
        count = f" ({p[1]})" if p[1].isdigit() else ""
        topic = f"  {p[2]}" if len(p) >= 3 and p[2] else ""
        return f"{p[0]}{count}{topic}"
    if command == "221":
        return f"Your modes: {' '.join(p)}"
    if command == "341" and len(p) >= 2:
        return f"You invited {p[0]} to {p[1]}"
    if is_error(command) and len(p) >= 2:
        # "<what> :<why>" reads best as "what: why" ("FOO: Unknown command", "#x: Cannot join channel").
        return f"{' '.join(p[:-1])}: {p[-1]}"
    return " ".join(p)
