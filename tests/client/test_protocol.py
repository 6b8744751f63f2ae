"""The sans-IO client state machine, driven with byte-level transcripts."""

from __future__ import annotations

import base64
from datetime import UTC, datetime, timedelta

import pytest

from hubbub.client import (
    AwayChanged,
    ChannelRenamed,
    ClientConfig,
    ClientError,
    ClientProtocol,
    Error,
    Event,
    HistoryBatch,
    HistoryGap,
    Invited,
    Joined,
    Kicked,
    LabeledResponse,
    MembersChanged,
    Message,
    MessageRedacted,
    MetadataChanged,
    ModeChanged,
    NickChanged,
    NickInUse,
    Parted,
    Quit,
    Registered,
    ServerReply,
    TopicChanged,
    Typing,
)

FIXED_NOW = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
S = ":irc.test"


def make(**kwargs: object) -> ClientProtocol:
    """A machine whose clock is fixed, so fallback times are predictable."""
    config = ClientConfig(**{"nick": "me", **kwargs})  # type: ignore[arg-type]
    return ClientProtocol(config, clock=lambda: FIXED_NOW)


def feed(proto: ClientProtocol, *lines: str) -> list[Event]:
    """Send server lines (CRLF added) and return the events."""
    return proto.receive_data("".join(line + "\r\n" for line in lines).encode())


def sent(proto: ClientProtocol) -> list[str]:
    """What the machine wants to send on its own, as lines."""
    return proto.data_to_send().decode().splitlines()


def of(events: list[Event], kind: type[Event]) -> list[Event]:
    return [e for e in events if isinstance(e, kind)]


def register(
    proto: ClientProtocol, caps: str = "", isupport: str = "CASEMAPPING=ascii PREFIX=(qaohv)~&@%+"
) -> None:
    """Run a registration that offers ``caps`` (no CAP at all when empty) and ACKs them all."""
    proto.connection_made()
    if caps:
        feed(proto, f"{S} CAP * LS :{caps}")
        req = [line for line in sent(proto) if line.startswith("CAP REQ")]
        for line in req:
            feed(proto, f"{S} CAP * ACK :{line.split(' ', 2)[2].lstrip(':')}")
        proto.data_to_send()
    feed(
        proto,
        f"{S} 001 me :Welcome to the test network me!u@host.test",
        f"{S} 005 me {isupport} CHATHISTORY=50 :are supported by this server",
        f"{S} 422 me :MOTD File is missing",
    )
    proto.data_to_send()


def test_registration_without_cap_sends_nick_user_and_emits_registered() -> None:
    proto = make(password="sekrit", username="bob", realname="Bob B")
    first = proto.connection_made().decode().splitlines()
    assert first == ["CAP LS 302", "PASS sekrit", "NICK me", "USER bob 0 * :Bob B"]
    # A server without CAP answers 421; registration goes on regardless.
    events = feed(proto, f"{S} 421 * CAP :Unknown command")
    assert of(events, ServerReply)
    events = feed(
        proto,
        f"{S} 001 me :Welcome me!bob@127.0.0.1",
        f"{S} 005 me NICKLEN=16 CHANTYPES=# :are supported",
        f"{S} 375 me :- MOTD -",
        f"{S} 372 me :- hello",
        f"{S} 376 me :End of MOTD",
    )
    registered = of(events, Registered)
    assert len(registered) == 1
    assert registered[0] == Registered("me", proto.isupport)
    assert proto.isupport.nicklen == 16 and proto.isupport.chantypes == "#"
    motd = [e.text for e in of(events, ServerReply)]
    assert "- hello" in motd
    assert proto.registered and sent(proto) == []


def test_cap_negotiation_requests_only_known_caps_and_ends() -> None:
    proto = make()
    proto.connection_made()
    events = feed(proto, f"{S} CAP * LS * :multi-prefix sasl=PLAIN,EXTERNAL foo/bar")
    assert sent(proto) == []  # continuation: wait for the last LS line
    feed(proto, f"{S} CAP * LS :server-time draft/chathistory batch message-tags")
    req = sent(proto)
    assert len(req) == 1 and req[0].startswith("CAP REQ :")
    requested = set(req[0].split(":", 1)[1].split())
    # no SASL credentials: sasl is not requested; unknown caps never are
    assert requested == {"multi-prefix", "server-time", "draft/chathistory", "batch", "message-tags"}
    events = feed(proto, f"{S} CAP me ACK :multi-prefix server-time draft/chathistory batch message-tags")
    assert sent(proto) == ["CAP END"]
    assert proto.caps_enabled == requested
    assert events[-1].enabled == frozenset(requested)  # type: ignore[attr-defined]


def test_cap_nak_still_ends_negotiation() -> None:
    proto = make()
    proto.connection_made()
    feed(proto, f"{S} CAP * LS :echo-message")
    assert sent(proto) == ["CAP REQ echo-message"]
    feed(proto, f"{S} CAP * NAK :echo-message")
    assert sent(proto) == ["CAP END"]
    assert proto.caps_enabled == set()


def test_cap_new_and_del_after_registration() -> None:
    proto = make()
    register(proto, caps="cap-notify")
    feed(proto, f"{S} CAP me NEW :away-notify unknown-thing")
    assert sent(proto) == ["CAP REQ away-notify"]
    feed(proto, f"{S} CAP me ACK :away-notify")
    assert "away-notify" in proto.caps_enabled
    assert sent(proto) == []  # no CAP END after registration
    feed(proto, f"{S} CAP me DEL :away-notify")
    assert "away-notify" not in proto.caps_enabled


def test_sasl_plain_login() -> None:
    proto = make(sasl_username="alice", sasl_password="pw")
    proto.connection_made()
    feed(proto, f"{S} CAP * LS :sasl=PLAIN server-time")
    assert sent(proto) == ["CAP REQ :sasl server-time"]
    feed(proto, f"{S} CAP * ACK :sasl server-time")
    assert sent(proto) == ["AUTHENTICATE PLAIN"]
    feed(proto, "AUTHENTICATE +")
    payload = base64.b64encode(b"alice\0alice\0pw").decode()
    assert sent(proto) == [f"AUTHENTICATE {payload}"]
    feed(proto, f"{S} 900 me me!u@h alice :You are now logged in as alice")
    assert sent(proto) == []
    feed(proto, f"{S} 903 me :SASL authentication successful")
    assert sent(proto) == ["CAP END"]
    assert proto.account == "alice"


def test_sasl_failure_reports_and_ends_cap() -> None:
    proto = make(sasl_username="alice", sasl_password="wrong")
    proto.connection_made()
    feed(proto, f"{S} CAP * LS :sasl")
    feed(proto, f"{S} CAP * ACK :sasl")
    feed(proto, "AUTHENTICATE +")
    proto.data_to_send()
    events = feed(proto, f"{S} 904 me :SASL authentication failed")
    assert of(events, Error)
    assert sent(proto) == ["CAP END"]


def test_sasl_not_requested_when_plain_not_offered() -> None:
    proto = make(sasl_username="alice", sasl_password="pw")
    proto.connection_made()
    feed(proto, f"{S} CAP * LS :sasl=EXTERNAL")
    assert sent(proto) == ["CAP END"]


def test_sasl_long_payload_is_chunked_with_final_plus() -> None:
    # 300 + 300 + 1 bytes and 2 NULs = 603 bytes -> 804 base64 chars: 400, 400, 4.
    proto = make(sasl_username="a" * 300, sasl_password="x")
    proto.connection_made()
    feed(proto, f"{S} CAP * LS :sasl", f"{S} CAP * ACK :sasl", "AUTHENTICATE +")
    lines = sent(proto)[2:]
    chunks = [line.split(" ", 1)[1] for line in lines]
    assert [len(c) for c in chunks[:-1]] == [400] * (len(chunks) - 1)
    assert base64.b64decode("".join(chunks)) == b"a" * 300 + b"\0" + b"a" * 300 + b"\0x"
    exact = make(sasl_username="u" * 49, sasl_password="p" * 200)  # 300 bytes -> 400 base64 chars
    exact.connection_made()
    feed(exact, f"{S} CAP * LS :sasl", f"{S} CAP * ACK :sasl", "AUTHENTICATE +")
    lines = sent(exact)
    assert len(lines[2].split(" ", 1)[1]) == 400 and lines[3:] == ["AUTHENTICATE +"]


def test_nick_in_use_at_registration_falls_back_automatically() -> None:
    proto = make()
    proto.connection_made()
    events = feed(proto, f"{S} 433 * me :Nickname is already in use")
    assert events == [NickInUse("me", "me_")]
    assert sent(proto) == ["NICK me_"]
    feed(proto, f"{S} 433 * me_ :Nickname is already in use")
    assert sent(proto) == ["NICK me__"]
    events = feed(proto, f"{S} 001 me__ :Welcome", f"{S} 376 me__ :End")
    assert of(events, Registered)[0].nick == "me__"  # type: ignore[attr-defined]


def test_nick_in_use_without_fallback_lets_the_application_choose() -> None:
    proto = make(auto_fallback_nick=False)
    proto.connection_made()
    events = feed(proto, f"{S} 433 * me :Nickname is already in use")
    assert events == [NickInUse("me", None)]
    assert sent(proto) == []
    assert proto.set_nick("other") == b"NICK other\r\n"
    events = feed(proto, f"{S} 001 other :Welcome", f"{S} 422 other :No MOTD")
    assert of(events, Registered)[0].nick == "other"  # type: ignore[attr-defined]


def test_a_nick_refused_at_registration_is_not_retried_and_says_why() -> None:
    proto = make(nick="9lives")
    proto.connection_made()
    (event,) = of(feed(proto, f"{S} 432 * 9lives :Erroneous nickname"), NickInUse)
    assert isinstance(event, NickInUse)
    assert (event.nick, event.fallback, event.code, event.reason) == (
        "9lives",
        None,
        "432",
        "Erroneous nickname",
    )
    assert sent(proto) == []


def test_nick_in_use_after_registration_is_a_server_reply() -> None:
    proto = make()
    register(proto)
    events = feed(proto, f"{S} 433 me taken :Nickname is already in use")
    assert of(events, ServerReply) and not of(events, NickInUse)
    assert sent(proto) == []


def test_ping_is_answered_with_pong() -> None:
    proto = make()
    proto.connection_made()
    assert feed(proto, "PING :abc123") == []
    assert sent(proto) == ["PONG abc123"]


def test_isupport_tokens_are_parsed_and_removed() -> None:
    proto = make()
    register(proto, isupport="CASEMAPPING=rfc1459 PREFIX=(ov)@+ LINELEN=2048 NETWORK=Test\\x20Net")
    assert proto.isupport.casemapping == "rfc1459"
    assert proto.isupport.linelen == 2048
    assert proto.isupport.chathistory == 50
    assert proto.isupport.network == "Test Net"
    assert proto.casefold("Me[]") == "me{}"
    feed(proto, f"{S} 005 me -NETWORK :are supported")
    assert proto.isupport.network is None


def join_channel(proto: ClientProtocol, names: str, channel: str = "#chat") -> list[Event]:
    return feed(
        proto,
        f":me!u@host.test JOIN {channel}",
        f"{S} 332 me {channel} :the topic",
        f"{S} 333 me {channel} op!o@h 1700000000",
        f"{S} 353 me = {channel} :{names}",
        f"{S} 366 me {channel} :End of /NAMES list.",
    )


def test_join_names_with_multi_prefix_and_userhost_in_names() -> None:
    proto = make()
    register(proto, caps="multi-prefix userhost-in-names")
    events = join_channel(proto, "~@alice!a@ha %+bob!b@hb me!u@host.test +carol!c@hc")
    assert events[0] == Joined("#chat", "me", True)
    topics = of(events, TopicChanged)
    assert topics[-1] == TopicChanged("#chat", "the topic", "op", datetime.fromtimestamp(1700000000, UTC))
    channel = proto.channel("#CHAT")
    assert channel is not None
    assert {m.nick: m.prefixes for m in channel.members.values()} == {
        "alice": "~@",
        "bob": "%+",
        "me": "",
        "carol": "+",
    }
    assert [m.nick for m in channel.member_list(proto.isupport.prefix[1])] == ["alice", "bob", "carol", "me"]
    assert proto.users["alice"].host == "ha" and proto.users["bob"].user == "b"
    assert of(events, MembersChanged)[-1] == MembersChanged("#chat")


def test_membership_transitions() -> None:
    proto = make()
    register(proto)
    join_channel(proto, "@me alice bob carol")
    channel = proto.channel("#chat")
    assert channel is not None
    events = feed(proto, ":dave!d@hd JOIN #chat")
    assert events[0] == Joined("#chat", "dave", False)
    assert "dave" in channel.members
    events = feed(proto, ":alice!a@ha PART #chat :bye")
    assert events[0] == Parted("#chat", "alice", "bye", False)
    assert "alice" not in channel.members
    events = feed(proto, ":me!u@h KICK #chat bob :behave")
    assert events[0] == Kicked("#chat", "bob", "me", "behave", False)
    events = feed(proto, ":carol!c@hc QUIT :Quit: gone")
    assert events[0] == Quit("carol", "Quit: gone", ("#chat",))
    events = feed(proto, ":dave!d@hd NICK :David")
    assert events[0] == NickChanged("dave", "David", False, ("#chat",))
    assert channel.members["david"].nick == "David"
    events = feed(proto, ":me!u@h MODE #chat +o-o+v David me David")
    assert events[0] == MembersChanged("#chat")
    assert events[1] == ModeChanged("#chat", "me", "+o-o+v", ("David", "me", "David"))
    assert channel.members["david"].prefixes == "@+"
    assert channel.members["me"].prefixes == ""
    events = feed(proto, ":me!u@h MODE #chat +kl-i key 10")
    assert set(channel.modes) == {"k", "l"}
    events = feed(proto, ":David!d@hd TOPIC #chat :new topic")
    assert events == [TopicChanged("#chat", "new topic", "David", FIXED_NOW)]
    events = feed(proto, ":me!u@h NICK :me2")
    assert events[0] == NickChanged("me", "me2", True, ("#chat",))
    assert proto.nick == "me2"
    events = feed(proto, ":op!o@h KICK #chat me2 :out")
    assert events[0] == Kicked("#chat", "me2", "op", "out", True)
    assert proto.channel("#chat") is None
    assert proto.wanted_channels == []  # kicked: not rejoined on reconnect


def test_own_part_forgets_the_channel() -> None:
    proto = make()
    register(proto)
    assert proto.join("#a") == b"JOIN #a\r\n"
    join_channel(proto, "me", "#a")
    assert proto.wanted_channels == ["#a"]
    assert proto.part("#a", "later") == b"PART #a later\r\n"
    events = feed(proto, ":me!u@h PART #a :later")
    assert events[0] == Parted("#a", "me", "later", True)
    assert proto.channels == {} and proto.wanted_channels == []


def test_away_notify_and_away_replies() -> None:
    proto = make()
    register(proto, caps="away-notify")
    join_channel(proto, "me alice")
    events = feed(proto, ":alice!a@ha AWAY :lunch")
    assert events == [AwayChanged("alice", True, "lunch")]
    assert proto.users["alice"].away
    events = feed(proto, ":alice!a@ha AWAY")
    assert events == [AwayChanged("alice", False, "")]
    events = feed(proto, f"{S} 306 me :You have been marked as being away")
    assert of(events, AwayChanged) == [AwayChanged("me", True, "", True)]
    events = feed(proto, f"{S} 301 me alice :back soon")
    assert of(events, AwayChanged) == [AwayChanged("alice", True, "back soon")]
    assert of(events, ServerReply)[0].target == "alice"


def test_messages_with_server_time_msgid_mentions_and_actions() -> None:
    proto = make()
    register(proto, caps="server-time message-tags")
    join_channel(proto, "me alice")
    events = feed(
        proto,
        "@time=2024-01-02T03:04:05.678Z;msgid=m1 :alice!a@ha PRIVMSG #chat :hello me!",
        ":alice!a@ha PRIVMSG me :\x01ACTION waves\x01",
        ":alice!a@ha NOTICE #chat :meeting",
        f"{S} NOTICE * :*** Looking up your hostname",
        "@msgid=m2 :alice!a@ha PRIVMSG #chat :memento",
    )
    msgs = of(events, Message)
    assert msgs[0].target == "#chat" and msgs[0].sender == "alice"  # type: ignore[attr-defined]
    assert msgs[0].time == datetime(2024, 1, 2, 3, 4, 5, 678000, UTC)  # type: ignore[attr-defined]
    assert msgs[0].msgid == "m1" and msgs[0].is_mention  # type: ignore[attr-defined]
    assert msgs[1].target == "alice" and msgs[1].kind == "action" and msgs[1].text == "waves"  # type: ignore[attr-defined]
    assert msgs[1].time == FIXED_NOW  # type: ignore[attr-defined]
    assert msgs[2].kind == "notice"  # type: ignore[attr-defined]
    assert msgs[3].target == "*"  # type: ignore[attr-defined]
    assert not msgs[4].is_mention  # type: ignore[attr-defined]


def test_ctcp_version_is_answered_and_not_shown() -> None:
    proto = make()
    register(proto)
    assert feed(proto, ":alice!a@ha PRIVMSG me :\x01VERSION\x01") == []
    assert sent(proto) == ["NOTICE alice :\x01VERSION hubbub\x01"]


def test_duplicate_msgids_are_shown_once() -> None:
    proto = make()
    register(proto, caps="message-tags batch draft/chathistory")
    join_channel(proto, "me alice")
    first = feed(proto, "@msgid=x1 :alice!a@ha PRIVMSG #chat :one")
    again = feed(proto, "@msgid=x1 :alice!a@ha PRIVMSG #chat :one")
    assert len(of(first, Message)) == 1 and of(again, Message) == []
    # The same msgid in another buffer is another message.
    other = feed(proto, "@msgid=x1 :alice!a@ha PRIVMSG me :one")
    assert len(of(other, Message)) == 1


def test_dedup_memory_is_bounded() -> None:
    proto = make(dedup_size=3)
    register(proto)
    join_channel(proto, "me alice")
    for i in range(5):
        feed(proto, f"@msgid=id{i} :alice!a@ha PRIVMSG #chat :n{i}")
    # id0 was forgotten (oldest), id4 is remembered.
    assert len(of(feed(proto, "@msgid=id0 :alice!a@ha PRIVMSG #chat :n0"), Message)) == 1
    assert of(feed(proto, "@msgid=id4 :alice!a@ha PRIVMSG #chat :n4"), Message) == []


def test_chathistory_batch_becomes_one_history_event_without_duplicates() -> None:
    proto = make()
    register(proto, caps="message-tags batch server-time draft/chathistory draft/event-playback")
    join_channel(proto, "me alice")
    feed(proto, "@msgid=h3;time=2024-01-01T00:00:03Z :alice!a@ha PRIVMSG #chat :three")
    assert proto.history_before("#chat", "h3", 10) == b"CHATHISTORY BEFORE #chat msgid=h3 10\r\n"
    events = feed(
        proto,
        f"{S} BATCH +b1 chathistory #chat",
        "@batch=b1;msgid=h1;time=2024-01-01T00:00:01Z :alice!a@ha PRIVMSG #chat :one",
        "@batch=b1;msgid=h0;time=2024-01-01T00:00:00Z :bob!b@hb JOIN #chat",
        "@batch=b1;msgid=h2;time=2024-01-01T00:00:02Z :me!u@h PRIVMSG #chat :two",
        "@batch=b1;msgid=h3;time=2024-01-01T00:00:03Z :alice!a@ha PRIVMSG #chat :three",
        f"{S} BATCH -b1",
    )
    assert len(events) == 1
    batch = events[0]
    assert isinstance(batch, HistoryBatch) and batch.before and batch.target == "#chat"
    assert [m.text for m in batch.messages] == ["one", "two"]
    assert all(m.from_history for m in batch.messages)
    assert batch.messages[1].is_self
    # A history JOIN (event-playback) does not change the live member list.
    channel = proto.channel("#chat")
    assert channel is not None and "bob" not in channel.members


def test_history_needs_the_capability() -> None:
    proto = make()
    register(proto)
    with pytest.raises(ClientError):
        proto.history_latest("#chat")


def test_multiline_batch_is_received_as_one_message() -> None:
    proto = make()
    register(proto, caps="message-tags batch draft/multiline=max-bytes=4096")
    join_channel(proto, "me alice")
    events = feed(
        proto,
        "@msgid=ml1;time=2024-01-01T00:00:00Z :alice!a@ha BATCH +m draft/multiline #chat",
        "@batch=m :alice!a@ha PRIVMSG #chat :first line",
        "@batch=m :alice!a@ha PRIVMSG #chat :second ",
        "@batch=m;draft/multiline-concat :alice!a@ha PRIVMSG #chat :line continued",
        f"{S} BATCH -m",
    )
    msgs = of(events, Message)
    assert len(msgs) == 1
    assert msgs[0].text == "first line\nsecond line continued"  # type: ignore[attr-defined]
    assert msgs[0].msgid == "ml1"  # type: ignore[attr-defined]


def test_labeled_response_batch_and_single_line() -> None:
    proto = make()
    register(proto, caps="message-tags batch labeled-response")
    label, data = proto.request("WHOIS", "alice")
    assert data == f"@label={label} WHOIS alice\r\n".encode()
    events = feed(
        proto,
        f"@label={label} {S} BATCH +r labeled-response",
        f"@batch=r {S} 311 me alice a ha * :Alice",
        f"@batch=r {S} 318 me alice :End of WHOIS",
        f"{S} BATCH -r",
    )
    responses = of(events, LabeledResponse)
    assert len(responses) == 1
    assert [m.command for m in responses[0].messages] == ["311", "318"]  # type: ignore[attr-defined]
    label2, _ = proto.request("AWAY")
    events = feed(proto, f"@label={label2} {S} 305 me :You are no longer marked as being away")
    assert of(events, LabeledResponse)[0].label == label2  # type: ignore[attr-defined]


def test_request_without_labeled_response_uses_a_ping_fence() -> None:
    proto = make()
    register(proto)
    label, data = proto.request("WHOIS", "alice")
    assert data == f"WHOIS alice\r\nPING {label}\r\n".encode()
    events = feed(
        proto,
        f"{S} 311 me alice a ha * :Alice",
        f"{S} 318 me alice :End of WHOIS",
        f"{S} PONG irc.test {label}",
    )
    responses = of(events, LabeledResponse)
    assert [m.command for m in responses[0].messages] == ["311", "318"]  # type: ignore[attr-defined]


def test_reconnect_rejoins_and_fills_the_gap_after_last_msgid() -> None:
    proto = make()
    caps = "message-tags batch server-time draft/chathistory"
    register(proto, caps=caps)
    proto.join("#chat")
    join_channel(proto, "me alice")
    feed(proto, "@msgid=last :alice!a@ha PRIVMSG #chat :before the drop")
    feed(proto, "@msgid=pm1 :alice!a@ha PRIVMSG me :private")
    proto.connection_lost()
    assert proto.channels == {}
    register(proto, caps=caps)
    # register() drained the JOIN and the private gap request; check them from a fresh run
    proto.connection_lost()
    proto.connection_made()
    feed(proto, f"{S} CAP * LS :{caps}")
    feed(proto, f"{S} CAP * ACK :{caps}")
    proto.data_to_send()
    feed(proto, f"{S} 001 me :Welcome", f"{S} 422 me :No MOTD")
    out = sent(proto)
    assert "JOIN #chat" in out
    assert "CHATHISTORY AFTER alice msgid=pm1 100" in out
    feed(proto, ":me!u@h JOIN #chat")
    assert sent(proto) == ["CHATHISTORY AFTER #chat msgid=last 100"]
    events = feed(
        proto,
        f"{S} BATCH +g chathistory #chat",
        "@batch=g;msgid=last :alice!a@ha PRIVMSG #chat :before the drop",
        "@batch=g;msgid=new :alice!a@ha PRIVMSG #chat :while away",
        f"{S} BATCH -g",
    )
    batch = of(events, HistoryBatch)[0]
    assert isinstance(batch, HistoryBatch) and not batch.before
    assert [m.text for m in batch.messages] == ["while away"]


def reconnect_to_a_fresh_store(proto: ClientProtocol, caps: str) -> None:
    """Seen a message in #chat, dropped, registered again and rejoined: the gap fill is asked."""
    proto.connection_lost()
    register(proto, caps=caps)
    feed(proto, ":me!u@h JOIN #chat")
    assert sent(proto) == ["CHATHISTORY AFTER #chat msgid=gone 50"]


def test_a_failed_gap_fill_falls_back_to_the_latest_page_quietly() -> None:
    """The server restarted with another store: the msgid the gap fill starts from is unknown.
    No raw error is reported; the latest page is asked for and added after what is shown."""
    proto = make()
    caps = "message-tags batch server-time draft/chathistory"
    register(proto, caps=caps)
    proto.join("#chat")
    join_channel(proto, "me alice")
    feed(proto, "@msgid=gone :alice!a@ha PRIVMSG #chat :before the restart")
    reconnect_to_a_fresh_store(proto, caps)
    # hubbub names the reference, not the target, in this FAIL's context.
    events = feed(proto, "FAIL CHATHISTORY INVALID_PARAMS AFTER msgid=gone :Unknown message reference")
    assert events == [HistoryGap("#chat", "Unknown message reference")]
    assert sent(proto) == ["CHATHISTORY LATEST #chat * 50"]
    events = feed(
        proto,
        f"{S} BATCH +f chathistory #chat",
        "@batch=f;msgid=n1 :bob!b@hb PRIVMSG #chat :after the restart",
        f"{S} BATCH -f",
    )
    batch = of(events, HistoryBatch)[0]
    assert isinstance(batch, HistoryBatch) and not batch.before
    assert [m.text for m in batch.messages] == ["after the restart"]
    # A request of the application's own fails aloud, in the buffer it concerns.
    assert proto.history_latest("#chat").startswith(b"CHATHISTORY LATEST")
    events = feed(proto, "FAIL CHATHISTORY MESSAGE_ERROR LATEST #chat :History is not available")
    assert of(events, ServerReply)[0].target == "#chat"  # type: ignore[attr-defined]


def test_a_failed_fallback_after_a_failed_gap_fill_is_quiet() -> None:
    proto = make()
    caps = "message-tags batch server-time draft/chathistory"
    register(proto, caps=caps)
    proto.join("#chat")
    join_channel(proto, "me alice")
    feed(proto, "@msgid=gone :alice!a@ha PRIVMSG #chat :before the restart")
    reconnect_to_a_fresh_store(proto, caps)
    feed(proto, "FAIL CHATHISTORY INVALID_PARAMS AFTER msgid=gone :Unknown message reference")
    proto.data_to_send()
    assert feed(proto, "FAIL CHATHISTORY MESSAGE_ERROR LATEST #chat :History is not available") == []


def test_a_failed_history_request_of_the_application_names_its_buffer() -> None:
    proto = make()
    register(proto, caps="message-tags batch server-time draft/chathistory")
    join_channel(proto, "me alice")
    proto.history_before("#chat", "nope", 10)
    proto.history_latest("#other", 10)
    events = feed(proto, "FAIL CHATHISTORY INVALID_PARAMS BEFORE msgid=nope :Unknown message reference")
    reply = of(events, ServerReply)[0]
    assert isinstance(reply, ServerReply) and reply.target == "#chat"
    # The request it answered is done: the next batch is #other's, not taken for #chat's.
    events = feed(proto, f"{S} BATCH +o chathistory #other", f"{S} BATCH -o")
    assert of(events, HistoryBatch) == [HistoryBatch("#other", (), True)]


def test_invite_and_error() -> None:
    proto = make()
    register(proto)
    assert feed(proto, ":alice!a@ha INVITE me #secret") == [Invited("#secret", "me", "alice", True)]
    assert feed(proto, "ERROR :Closing link") == [Error("Closing link")]


def test_error_numerics_name_their_channel() -> None:
    proto = make()
    register(proto)
    events = feed(proto, f"{S} 474 me #banned :Cannot join channel (+b)")
    assert events == [
        ServerReply(
            "474", "#banned Cannot join channel (+b)", ("#banned", "Cannot join channel (+b)"), "#banned"
        )
    ]
    events = feed(proto, "FAIL CHATHISTORY INVALID_TARGET LATEST #x :No such target")
    assert events[0].command == "FAIL"  # type: ignore[attr-defined]
    assert events[0].target == "#x"  # type: ignore[attr-defined]
    events = feed(proto, "FAIL CHATHISTORY UNKNOWN_COMMAND FROB :Unknown command")
    assert events[0].target is None  # type: ignore[attr-defined]


def test_garbage_lines_do_not_break_the_machine() -> None:
    proto = make()
    register(proto)
    assert proto.receive_data(b"\xff\xfe bad\r\n:x !!! \r\n@\r\n") == []
    assert of(proto.receive_data(b"x" * 9000), Error)


def test_own_messages_are_echoed_locally_without_echo_message() -> None:
    proto = make()
    register(proto)
    data = proto.send_message("#chat", "hi there")
    assert data == b"PRIVMSG #chat :hi there\r\n"
    events = proto.take_events()
    assert events == [Message("#chat", "me", "hi there", FIXED_NOW, None, "privmsg", True, False)]
    with_echo = make()
    register(with_echo, caps="echo-message")
    with_echo.send_message("#chat", "hi")
    assert with_echo.take_events() == []
    events = feed(with_echo, ":me!u@h PRIVMSG #chat :hi")
    assert of(events, Message)[0].is_self  # type: ignore[attr-defined]


def test_send_action_and_notice() -> None:
    proto = make()
    register(proto)
    assert proto.send_message("#c", "waves", kind="action") == b"PRIVMSG #c :\x01ACTION waves\x01\r\n"
    assert proto.send_message("#c", "fyi", kind="notice") == b"NOTICE #c fyi\r\n"


def test_raw_checks_the_line() -> None:
    proto = make()
    register(proto)
    assert proto.raw("MODE #chat +m") == b"MODE #chat +m\r\n"
    with pytest.raises(ClientError):
        proto.raw("PRIVMSG #c :" + "x" * 600)


def test_after_joining_a_who_learns_who_is_away_already() -> None:
    proto = make()
    register(proto, caps="away-notify", isupport="CASEMAPPING=ascii PREFIX=(ov)@+ WHOX")
    feed(proto, ":me!u@h JOIN #c", f"{S} 353 me = #c :me bob carol", f"{S} 366 me #c :End")
    assert sent(proto) == ["WHO #c %tnf,877"]
    events = feed(
        proto,
        f"{S} 354 me 877 me H",
        f"{S} 354 me 877 bob G",
        f"{S} 354 me 877 carol H",
        f"{S} 315 me #c :End of WHO list",
    )
    assert [(e.nick, e.away) for e in of(events, AwayChanged)] == [("bob", True)]  # type: ignore[attr-defined]
    assert not of(events, ServerReply)  # the client's own WHO is not shown as server text
    assert proto.users["bob"].away


def test_without_whox_the_plain_who_flags_are_read() -> None:
    proto = make()
    register(proto, caps="away-notify", isupport="CASEMAPPING=ascii PREFIX=(ov)@+")
    feed(proto, ":me!u@h JOIN #c", f"{S} 353 me = #c :me bob", f"{S} 366 me #c :End")
    assert sent(proto) == ["WHO #c"]
    events = feed(proto, f"{S} 352 me #c ~b host srv bob G :0 Bob", f"{S} 315 me #c :End")
    assert [(e.nick, e.away) for e in of(events, AwayChanged)] == [("bob", True)]  # type: ignore[attr-defined]
    # a WHO the user asks for later is still shown
    assert of(feed(proto, f"{S} 352 me #d ~x host srv x H :0 X"), ServerReply)


def test_rename_moves_the_channel_state_to_the_new_name() -> None:
    """draft/channel-rename: "When a client receives a RENAME message, it SHOULD update any
    internal state that refers to the old channel name to the new name"; the capability is
    requested when offered."""
    proto = make()
    register(proto, caps="draft/channel-rename server-time")
    assert "draft/channel-rename" in proto.caps_enabled
    join_channel(proto, "@me alice", "#old")
    feed(proto, "@msgid=m1;time=2024-05-01T11:00:00.000Z :alice!a@ha PRIVMSG #old :before")
    assert proto.rename("#old", "#new", "tidy") == b"RENAME #old #new tidy\r\n"
    events = feed(proto, ":me!u@host.test RENAME #old #new :tidy up")
    assert events == [ChannelRenamed("#old", "#new", "tidy up", "me")]
    assert proto.channel("#old") is None
    channel = proto.channel("#NEW")
    assert channel is not None and channel.name == "#new"
    assert channel.topic == "the topic" and set(channel.members) == {"me", "alice"}
    assert proto.wanted_channels == ["#new"]  # a reconnect rejoins the new name
    assert proto.last_msgid("#new") == "m1" and proto.last_msgid("#old") is None
    # A line that arrives again under the new name is still a duplicate.
    events = feed(proto, "@msgid=m1;time=2024-05-01T11:00:00.000Z :alice!a@ha PRIVMSG #new :before")
    assert of(events, Message) == []
    # Later events for the new name reach the moved state.
    feed(proto, ":bob!b@hb JOIN #new")
    assert "bob" in channel.members
    # A RENAME of a channel we are not in, or onto one we are in, changes nothing.
    join_channel(proto, "me", "#other")
    assert feed(proto, ":x!x@x RENAME #nowhere #else :r") == []
    assert feed(proto, ":me!u@h RENAME #new #other :r") == []
    assert proto.channel("#new") is channel


def test_redact_is_reported_for_the_buffer_it_concerns() -> None:
    """draft/message-redaction: "REDACT <target> <msgid> [<reason>]" -- clients "SHOULD hide or
    replace the content of the redacted message"; the library names the buffer and the msgid,
    requests the capability when offered, and sends REDACT with an optional reason."""
    proto = make()
    register(proto, caps="draft/message-redaction")
    assert "draft/message-redaction" in proto.caps_enabled
    join_channel(proto, "@me alice")
    events = feed(proto, ":alice!a@ha REDACT #chat m1 :oops")
    assert events == [MessageRedacted("#chat", "m1", "oops", "alice")]
    # A private message redacted by its author: the target is us, the buffer is theirs.
    events = feed(proto, ":bob!b@hb REDACT me m2")
    assert events == [MessageRedacted("bob", "m2", "", "bob")]
    # Our own redaction in a private conversation (echoed to our other devices) names the peer.
    assert feed(proto, ":me!u@h REDACT bob m3") == [MessageRedacted("bob", "m3", "", "me")]
    assert feed(proto, ":alice!a@ha REDACT #chat") == []  # no msgid: nothing to hide
    assert proto.redact("#chat", "m1") == b"REDACT #chat m1\r\n"
    assert proto.redact("bob", "m2", "typo fix") == b"REDACT bob m2 :typo fix\r\n"


def test_typing_notifications_are_reported_and_sent_throttled() -> None:
    """typing client tag: "+typing" is "active", "paused" or "done"; clients "SHOULD NOT send the
    active state more than once every 3 seconds"; it travels on TAGMSG, so only with message-tags."""
    now = [FIXED_NOW]
    proto = ClientProtocol(ClientConfig(nick="me"), clock=lambda: now[0])
    register(proto, caps="message-tags echo-message")
    join_channel(proto, "me alice")
    events = feed(proto, "@+typing=active :alice!a@ha TAGMSG #chat")
    assert events == [Typing("#chat", "alice", "active")]
    assert feed(proto, "@+draft/typing=done :alice!a@ha TAGMSG me") == [Typing("alice", "alice", "done")]
    assert feed(proto, "@+typing=bogus :alice!a@ha TAGMSG #chat") == []
    assert feed(proto, "@+typing=active :me!u@h TAGMSG #chat") == []  # our own, echoed
    assert feed(proto, "@+draft/react=x :alice!a@ha TAGMSG #chat") == []
    assert proto.typing("#chat") == b"@+typing=active TAGMSG #chat\r\n"
    now[0] += timedelta(seconds=2.9)
    assert proto.typing("#chat") == b""  # within 3 s
    assert proto.typing("#other") == b"@+typing=active TAGMSG #other\r\n"  # per target
    now[0] += timedelta(seconds=0.2)
    assert proto.typing("#chat") == b"@+typing=active TAGMSG #chat\r\n"
    assert proto.typing("#chat", "done") == b"@+typing=done TAGMSG #chat\r\n"
    assert proto.typing("#chat", "done") == b""  # nothing left to take back
    assert proto.typing("#chat") != b""  # after done, active goes out again at once
    proto.send_message("#chat", "sent")
    assert proto.typing("#chat") != b""  # a message ends the typing too
    plain = make()
    register(plain)
    assert plain.typing("#chat") == b""  # no message-tags: no TAGMSG


def test_metadata_is_subscribed_to_and_kept_per_user_and_channel() -> None:
    """draft/metadata-2: a client subscribes with "METADATA * SUB <key>..." and then receives
    "METADATA <Target> <Key> <Visibility> :<Value>" for each change (no value: the key was
    removed); RPL_KEYVALUE 761 answers a GET with the same fields."""
    proto = make()
    proto.connection_made()
    feed(proto, f"{S} CAP * LS :draft/metadata-2=max-subs=10 message-tags")
    proto.data_to_send()
    feed(proto, f"{S} CAP * ACK :draft/metadata-2 message-tags")
    assert sent(proto) == ["CAP END"]  # METADATA waits for registration (no before-connect)
    feed(proto, f"{S} 001 me :Welcome")
    assert sent(proto) == ["METADATA * SUB display-name status"]
    feed(proto, f"{S} 005 me CASEMAPPING=ascii :ok", f"{S} 422 me :no MOTD")
    assert feed(proto, f"{S} 770 me :display-name status") == []  # RPL_METADATASUBOK: quiet
    join_channel(proto, "@me alice")
    events = feed(
        proto,
        f"{S} BATCH +m1 metadata",
        f"@batch=m1 {S} METADATA alice display-name * :Alice Liddell",
        f"@batch=m1 {S} METADATA #chat status * :open",
        f"{S} BATCH -m1",
    )
    assert of(events, MetadataChanged) == [
        MetadataChanged("alice", "display-name", "Alice Liddell"),
        MetadataChanged("#chat", "status", "open"),
    ]
    assert proto.users["alice"].metadata == {"display-name": "Alice Liddell"}
    assert proto.channel("#chat").metadata == {"status": "open"}  # type: ignore[union-attr]
    events = feed(proto, ":alice!a@ha METADATA alice display-name *")
    assert events == [MetadataChanged("alice", "display-name", None)]
    assert proto.users["alice"].metadata == {}
    events = feed(proto, f"{S} 761 me me status * :busy")
    assert events == [MetadataChanged("me", "status", "busy", True)]
    assert feed(proto, f"{S} METADATA #elsewhere status * :x") == []  # not our channel
    # Without keys to follow nothing is subscribed.
    quiet = make(metadata_keys=())
    quiet.connection_made()
    feed(quiet, f"{S} CAP * LS :draft/metadata-2")
    quiet.data_to_send()
    feed(quiet, f"{S} CAP * ACK :draft/metadata-2")
    feed(quiet, f"{S} 001 me :Welcome")
    assert sent(quiet) == ["CAP END"]
    # Enabled after registration (cap-notify), the subscription goes out at once.
    late = make()
    register(late, caps="message-tags")
    feed(late, f"{S} CAP me NEW :draft/metadata-2")
    assert sent(late) == ["CAP REQ draft/metadata-2"]
    feed(late, f"{S} CAP me ACK :draft/metadata-2")
    assert sent(late) == ["METADATA * SUB display-name status"]


def test_server_replies_name_the_request_they_answer() -> None:
    """A reply inside a labelled batch, or labelled itself, carries the label; others carry none."""
    proto = make()
    register(proto, caps="message-tags batch labeled-response")
    label, _ = proto.request("WHOIS", "alice")
    events = feed(
        proto,
        f"@label={label} {S} BATCH +r labeled-response",
        f"@batch=r {S} 311 me alice a ha * :Alice",
        f"@batch=r {S} 312 me alice irc.test :The server",
        f"{S} BATCH -r",
        f"{S} 312 me bob irc.test :unasked",
    )
    replies = of(events, ServerReply)
    assert [(r.command, r.label) for r in replies] == [  # type: ignore[attr-defined]
        ("311", label),
        ("312", label),
        ("312", None),
    ]
    label2, _ = proto.request("FOO")
    events = feed(proto, f"@label={label2} {S} 421 me FOO :Unknown command")
    assert [r.label for r in of(events, ServerReply)] == [label2]  # type: ignore[attr-defined]


def test_without_labels_replies_before_the_fence_belong_to_the_waiting_request() -> None:
    proto = make()
    register(proto)
    label, _ = proto.request("LIST")
    events = feed(
        proto,
        f"{S} 322 me #a 3 :topic a",
        f"{S} 323 me :End of /LIST",
        f"{S} PONG irc.test {label}",
        f"{S} 322 me #late 1 :after the fence",
    )
    assert [(r.command, r.label) for r in of(events, ServerReply)] == [  # type: ignore[attr-defined]
        ("322", label),
        ("323", label),
        ("322", None),
    ]


def test_passwords_are_hidden_from_the_debug_log_in_labelled_requests_too() -> None:
    from hubbub.client._client import _redact

    data = b"@label=hb1.2 OPER admin s3cret\r\nPASS hunter2\r\noper root pw\r\nPRIVMSG #a :OPER x y\r\n"
    shown = _redact(data)
    assert b"s3cret" not in shown and b"hunter2" not in shown and b" pw" not in shown
    assert shown.split(b"\r\n")[:4] == [
        b"@label=hb1.2 OPER <hidden>",
        b"PASS <hidden>",
        b"oper <hidden>",
        b"PRIVMSG #a :OPER x y",
    ]
    assert _redact(b"PRIVMSG #a :hello\r\n") == b"PRIVMSG #a :hello\r\n"
