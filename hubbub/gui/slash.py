"""What the input line means: plain text, or a slash command turned into requests."""

from __future__ import annotations

from dataclasses import dataclass, field

from .events import (
    ChangeNick,
    JoinChannels,
    KickMember,
    PartChannel,
    QuitNetwork,
    RenameChannel,
    Request,
    SearchMessages,
    SendRaw,
    SendText,
    SetAway,
    SetMode,
    SetTopic,
    Whois,
)

CHANNEL_PREFIXES = "#&"

HELP = """\
/join #chan[,#other] [keys]   join channels
/part [#chan] [reason]        leave a channel (the current one by default)
/msg nick text                send a private message
/query nick [text]            open a private conversation
/me text                      describe an action
/nick newnick                 change your nickname
/topic [text]                 show or set the channel topic
/away [message] | /back       mark yourself away or back
/kick nick [reason]           remove someone from the channel
/rename #new [reason]         rename the current channel (operators)
/mode target modes [args]     change modes
/whois nick                   ask about someone (answered in this buffer)
/list [filter]                open the channel browser
/close                        close this buffer (leaving the channel)
/search text | -all text      search this conversation's history (or all of yours)
/quit [reason]                leave the network
/mute [#chan|nick] | /unmute  no desktop notifications from a buffer (the current one by default)
/settings                     open the settings (also Ctrl+,)
//text                        send text starting with a slash
Anything else starting with / is sent to the server as typed."""


@dataclass(slots=True)
class Interpretation:
    """The outcome of one input line."""

    requests: list[Request] = field(default_factory=list)
    open_query: str = ""  # switch to (creating if needed) this private buffer
    notice: str = ""  # text to show locally in the current buffer
    error: bool = False  # the notice is a usage error
    quit: bool = False
    mute: tuple[str, bool] | None = None  # (buffer, muted): silence or unsilence its notifications
    open_settings: bool = False
    close: bool = False  # close the current buffer (parting a channel)
    browse: str | None = None  # open the channel browser with this filter


def _usage(text: str) -> Interpretation:
    return Interpretation(notice=f"usage: {text}", error=True)


def interpret(text: str, buffer: str) -> Interpretation:
    """Turn ``text`` typed in ``buffer`` ("" for the server buffer) into requests.

    Plain text goes to the buffer; each line of a multi-line paste becomes its own message.
    """
    if not text.startswith("/") or text.startswith("//"):
        body = text[1:] if text.startswith("//") else text
        lines = tuple(line for line in body.splitlines() if line.strip())
        if not lines:
            return Interpretation()
        if not buffer:
            return Interpretation(
                notice="Messages cannot be sent from the server buffer: pick a channel on the left, "
                "or /join #channel, or /msg nick text.",
                error=True,
            )
        return Interpretation(requests=[SendText(buffer, lines)])

    first, _, rest = text[1:].partition(" ")
    name = first.lower()
    rest = rest.strip()
    args = rest.split()
    in_channel = buffer[:1] in CHANNEL_PREFIXES and bool(buffer)

    if name in ("join", "j"):
        if not args:
            return _usage("/join #channel[,#other] [key,key]")
        channels = tuple(c if c[:1] in CHANNEL_PREFIXES else "#" + c for c in args[0].split(",") if c)
        keys = tuple(args[1].split(",")) if len(args) > 1 else ()
        # The window shows the channel once the server confirms the join.
        return Interpretation(requests=[JoinChannels(channels, keys)])
    if name in ("part", "leave"):
        channel, reason = buffer, rest
        if args and args[0][:1] in CHANNEL_PREFIXES:
            channel, reason = args[0], rest[len(args[0]) :].strip()
        if not channel or channel[:1] not in CHANNEL_PREFIXES:
            return _usage("/part #channel [reason]")
        return Interpretation(requests=[PartChannel(channel, reason)])
    if name in ("msg", "m"):
        if len(args) < 2:
            return _usage("/msg nick text")
        target = args[0]
        body = rest[len(target) :].strip()
        return Interpretation(requests=[SendText(target, (body,))])
    if name in ("query", "q"):
        if not args:
            return _usage("/query nick [text]")
        target = args[0]
        body = rest[len(target) :].strip()
        reqs: list[Request] = [SendText(target, (body,))] if body else []
        return Interpretation(requests=reqs, open_query=target)
    if name == "me":
        if not buffer:
            return Interpretation(notice="/me needs a channel or a conversation", error=True)
        if not rest:
            return _usage("/me text")
        return Interpretation(requests=[SendText(buffer, (rest,), action=True)])
    if name == "nick":
        if len(args) != 1:
            return _usage("/nick newnick")
        return Interpretation(requests=[ChangeNick(args[0])])
    if name == "topic":
        channel, topic = buffer, rest
        if args and args[0][:1] in CHANNEL_PREFIXES:
            channel, topic = args[0], rest[len(args[0]) :].strip()
        if not channel or channel[:1] not in CHANNEL_PREFIXES:
            return _usage("/topic [#channel] [text]")
        return Interpretation(requests=[SetTopic(channel, topic or None)])
    if name == "away":
        return Interpretation(requests=[SetAway(rest or "away")])
    if name == "back":
        return Interpretation(requests=[SetAway("")])
    if name == "kick":
        if not args or not in_channel:
            return _usage("/kick nick [reason] (in a channel)")
        return Interpretation(requests=[KickMember(buffer, args[0], rest[len(args[0]) :].strip())])
    if name == "rename":
        if not args or not in_channel or args[0][:1] not in CHANNEL_PREFIXES:
            return _usage("/rename #newname [reason] (in a channel)")
        return Interpretation(requests=[RenameChannel(buffer, args[0], rest[len(args[0]) :].strip())])
    if name == "mode":
        if not args:
            if not in_channel:
                return _usage("/mode target [modes] [args]")
            return Interpretation(requests=[SetMode((buffer,))])
        if args[0][:1] in "+-" and in_channel:
            args = [buffer, *args]
        return Interpretation(requests=[SetMode(tuple(args))])
    if name == "whois":
        if len(args) != 1:
            return _usage("/whois nick")
        return Interpretation(requests=[Whois(args[0], origin=buffer)])
    if name == "close":
        # The window decides: a channel or conversation closes; a server buffer leaves its
        # server when others are open, and otherwise stays (/quit leaves the last one).
        return Interpretation(close=True)
    if name == "list":
        # The answer is a window of its own, not lines scattered over the buffers.
        return Interpretation(browse=rest)
    if name == "search":
        everywhere = bool(args) and args[0].lower() in ("-all", "-a")
        words = rest[len(args[0]) :].strip() if everywhere else rest
        if not words:
            return _usage("/search text (this conversation) or /search -all text (everywhere)")
        return Interpretation(requests=[SearchMessages(words, "" if everywhere else buffer)])
    if name in ("quit", "exit"):
        return Interpretation(requests=[QuitNetwork(rest)], quit=True)
    if name in ("mute", "unmute"):
        target = args[0] if args else buffer
        if len(args) > 1 or not target:
            return _usage(f"/{name} [#channel|nick] (the current buffer by default)")
        return Interpretation(mute=(target, name == "mute"))
    if name in ("settings", "preferences", "prefs"):
        return Interpretation(open_settings=True)
    if name == "help":
        return Interpretation(notice=HELP)
    if not name:
        return _usage("/command [args] (or //text to send a slash)")
    # Unknown to the window: the server may know it (e.g. /list, /oper, /invite).
    return Interpretation(
        requests=[SendRaw(f"{first.upper()} {rest}".strip(), origin=buffer)],
        notice=f"sent to the server as typed: {first.upper()} {rest}".strip(),
    )
