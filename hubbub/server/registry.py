"""Registered channels: a founder and an access list (op and voice on join), kept by ChanServ.

ChanServ's commands are in hubbub/server/handlers/chanserv.py.

A registered channel is persistent (it survives restarts and being empty); nobody gets operator
status just by joining it first: members on the access list get theirs from ChanServ on join.
Founder and access list name accounts by their immutable ids (shown by name): when an account is
dropped its channels and entries go with it, and a new account of the same name has none of them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from hubbub.protocol import Message
from hubbub.store.accounts import RegisteredChannel

from .services import service_mask

if TYPE_CHECKING:
    from .accounts import Accounts
    from .delivery import Delivery
    from .history import History
    from .session import Session
    from .world import Channel, World

LEVELS = {"op": "o", "voice": "v"}


class ChannelRegistry:
    """Registered channels, loaded from the account store and kept in memory."""

    def __init__(
        self, world: World[Session], accounts: Accounts, history: History, delivery: Delivery
    ) -> None:
        self.world = world
        self.accounts = accounts
        self.history = history
        self.delivery = delivery
        self.channels: dict[str, RegisteredChannel] = {}
        # Cluster mode: tells the other nodes of a registration made, changed or dropped here.
        self.shared: Callable[[list[Any]], None] | None = None

    def load(self) -> None:
        """Read every registration; their channels exist (persistent) from start-up."""
        store = self.accounts.store
        self.channels = {c.key: c for c in store.channels()} if store is not None else {}

    def save(self, record: RegisteredChannel) -> None:
        """Store a registration and keep it."""
        self.accounts.write_later(
            lambda store: store.save_channel(record), f"save the registration of {record.key}"
        )
        self.channels[record.key] = record
        if self.shared is not None:
            self.shared(["reg", [record.key, record.founder, record.access, record.registered_ms]])

    def drop(self, key: str) -> bool:
        """Forget the registration of channel ``key``, here and in the store; False if none."""
        if self.channels.pop(key, None) is None:
            return False
        self.accounts.write_later(lambda store: store.drop_channel(key), f"drop the registration of {key}")
        if self.shared is not None:
            self.shared(["unreg", key])
        return True

    def channel_renamed(self, old_key: str, new_key: str) -> None:
        """A registered channel was renamed: its registration follows it (the stored row is moved
        with the rest of the channel, ``SQLiteStore.rename_channel``)."""
        if old_key == new_key:
            return
        self.channels.pop(new_key, None)
        record = self.channels.pop(old_key, None)
        if record is not None:
            self.channels[new_key] = replace(record, key=new_key)

    def access_of(self, channel: Channel[Session], session: Session) -> str:
        """The prefix modes ``session``'s account holds on ``channel`` ("" for none)."""
        record = self.channels.get(channel.key_folded)
        if record is None or session.account_id is None:
            return ""
        return record.access.get(session.account_id, "")

    def name_of(self, account_id: str) -> str | None:
        """The name of the account with ``account_id``, or None if it was dropped."""
        account = self.accounts.by_id(account_id)
        return account.name if account is not None else None

    def apply_on_join(self, session: Session, channel: Channel[Session]) -> None:
        """Give a joining member the status the access list grants, announced by ChanServ."""
        modes = self.access_of(channel, session)
        if not modes or session not in channel.members:
            return
        self.world.set_prefix(channel, session, modes)
        if "o" in modes:
            self.history.operator_given(channel)
        out = Message.build(
            "MODE",
            channel.name,
            "+" + modes,
            *([session.nick] * len(modes)),
            source=service_mask(session, "ChanServ"),
        )
        self.delivery.publish(out, list(channel.members), event=True)
