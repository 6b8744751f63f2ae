"""What the test clients' ``expect`` waits for: a message by command and leading parameters."""

from __future__ import annotations

from collections.abc import Callable

from hubbub.protocol import Message


def matcher(
    command: str | Callable[[Message], bool], params: tuple[str | None, ...]
) -> Callable[[Message], bool]:
    """``command`` itself when it is a predicate; else one matching that command (any case) whose
    leading parameters are ``params`` (a None matches any)."""
    if callable(command):
        return command
    want = command.upper()

    def pred(m: Message) -> bool:
        return m.command == want and all(
            i < len(m.params) and (p is None or m.params[i] == p) for i, p in enumerate(params)
        )

    return pred
