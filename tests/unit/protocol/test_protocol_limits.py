"""check_client_line: the byte limits a client's line must keep (RFC 1459 2.3, message-tags)."""

from __future__ import annotations

import pytest

from hubbub.protocol import MAX_CLIENT_TAG_DATA, MAX_LINE, MAX_LINE_BODY, ProtocolError, check_client_line


def _body(size: int) -> bytes:
    head = b"PRIVMSG #c :"
    return head + b"x" * (size - len(head))


def _tags(size: int) -> bytes:
    return b"@+k=" + b"v" * (size - 3)


def test_the_limits_are_the_specs_numbers() -> None:
    assert MAX_LINE_BODY == 512
    assert MAX_CLIENT_TAG_DATA == 4094
    assert MAX_LINE == 8191 + 512


def test_a_510_byte_body_is_accepted() -> None:
    check_client_line(_body(510))


def test_a_511_byte_body_is_refused_with_417() -> None:
    with pytest.raises(ProtocolError) as info:
        check_client_line(_body(511))
    assert info.value.numeric == "417"
    assert not info.value.fatal


def test_the_body_limit_counts_bytes_not_characters() -> None:
    head = "PRIVMSG #c :"
    fits = (head + "é" * ((510 - len(head)) // 2)).encode()
    assert len(fits) == 510
    check_client_line(fits)
    with pytest.raises(ProtocolError):
        check_client_line(fits + b"x")


def test_4094_bytes_of_tag_data_are_accepted() -> None:
    tags = _tags(MAX_CLIENT_TAG_DATA)
    assert len(tags) == 1 + 4094
    check_client_line(tags + b" " + _body(510))


def test_4095_bytes_of_tag_data_are_refused_with_417() -> None:
    with pytest.raises(ProtocolError) as info:
        check_client_line(_tags(4095) + b" PING x")
    assert info.value.numeric == "417"


def test_tags_do_not_count_toward_the_body_limit_and_vice_versa() -> None:
    check_client_line(_tags(4094) + b" " + _body(510))
    with pytest.raises(ProtocolError):
        check_client_line(_tags(10) + b" " + _body(511))


def test_a_tag_section_without_a_body_is_checked_for_its_length() -> None:
    check_client_line(_tags(4094))
    with pytest.raises(ProtocolError):
        check_client_line(_tags(4095))
