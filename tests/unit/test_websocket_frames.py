"""The web door's own framing of server messages against the websockets library's frames."""

from __future__ import annotations

import pytest
from websockets.frames import Frame, Opcode

from hubbub.server.websocket import framed


def library_frames(lines: list[bytes], binary: bool) -> bytes:
    opcode = Opcode.BINARY if binary else Opcode.TEXT
    return b"".join(Frame(opcode, line).serialize(mask=False) for line in lines if line)


@pytest.mark.parametrize("binary", [False, True])
@pytest.mark.parametrize("size", [1, 2, 125, 126, 127, 65535, 65536, 70000])
def test_frame_header_at_every_length_boundary(size: int, binary: bool) -> None:
    lines = [b"x" * size, b"PING :a"]
    data = b"".join(line + b"\r\n" for line in lines)
    assert framed(data, binary) == library_frames(lines, binary)


def test_empty_lines_send_no_message() -> None:
    assert framed(b"\r\n\r\nPING :a\r\n\r\n", False) == library_frames([b"PING :a"], False)


def test_text_frames_replace_what_is_not_utf8_but_binary_frames_keep_it() -> None:
    lines = [":a PRIVMSG #c :caf\xc3\xa9".encode("latin-1"), b":a PRIVMSG #c :\xff\xfe ok", "é€😀".encode()]
    data = b"".join(line + b"\r\n" for line in lines)
    replaced = [line.decode(errors="replace").encode() for line in lines]
    assert framed(data, False) == library_frames(replaced, False)
    assert framed(data, True) == library_frames(lines, True)


def test_the_same_bytes_are_framed_once_for_every_member() -> None:
    data = b":a PRIVMSG #c :hi\r\n"
    first = framed(data, False)
    assert framed(data, False) is first
    assert framed(data, True) != first  # the same bytes to a binary member: other frames
