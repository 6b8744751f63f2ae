"""Direct conversations: who their sides are, what they are called, and what a login is shown.

DESIGN.md principle 9: a private conversation belongs to the people in it, not to a nick. Each
side is an identity: a logged-in user's account (by an id a later account of the same name never
gets) or the connection of someone not logged in (across its own nick changes). The store keeps
the messages under a key made of both sides (``hubbub.store.dm_key``); this module turns nicks
into sides and sides back into names to show.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING

from hubbub.store import MessageRef, account_side, dm_key, dm_peer, side_account

from .history import MESSAGES

if TYPE_CHECKING:
    from .accounts import Accounts
    from .config import Settings
    from .delivery import Delivery
    from .history import History
    from .session import Session
    from .world import World

log = logging.getLogger(__name__)


class Directs:
    """The sides and names of direct conversations, for one server."""

    def __init__(
        self,
        settings: Settings,
        world: World[Session],
        history: History,
        accounts: Accounts,
        delivery: Delivery,
    ) -> None:
        self.settings = settings  # REHASH sets it again
        self.world = world
        self.history = history
        self.accounts = accounts
        self.delivery = delivery
        # Connections that are sides of direct conversations, by side, to name them in TARGETS;
        # each is forgotten when it goes (forget).
        self._connections: dict[str, Session] = {}
        # Read markers moved by a replay whose write has not returned yet, by (account id, target):
        # a login in the meantime must not be shown the same messages again.
        self._unsaved_marks: dict[tuple[str, str], int] = {}

    def direct(self, session: Session, peer_side: str, peer_name: str) -> tuple[str, dict[str, str]]:
        """The conversation key of ``session`` with the side ``peer_side`` (shown as ``peer_name``),
        and the display names of both sides, to publish a direct message under."""
        me = self.dm_side(session)
        return dm_key(me, peer_side), {me: self.side_name(session), peer_side: peer_name}

    def dm_side(self, session: Session) -> str:
        """Who ``session`` is in direct conversations: its account's id, else its connection.

        A connection's side is made when it connects and dies with it; it stays the same across
        the connection's nick changes. Neither kind is ever given to anybody else.
        """
        if session.account_id is not None:
            return account_side(session.account_id)
        holder = session.primary or session
        self._connections[holder.identity] = holder
        return holder.identity

    def forget(self, session: Session) -> None:
        """``session`` left the network: it names no side any more."""
        side = session.made_identity
        if side is not None and self._connections.get(side) is session:
            del self._connections[side]

    def nick_changed(self, session: Session) -> None:
        """A user changed nick: a connection's conversations remember its new one (for TARGETS)."""
        if session.account_id is not None:
            return  # an account is shown by its own name once its user is gone
        holder = session.primary or session
        if self._connections.get(holder.identity) is not holder:
            return  # it never had a direct conversation
        if self.history.store is None:
            return
        side, nick = holder.identity, holder.nick
        # On the writer, after the messages sent under the old nick.
        self.delivery.write(lambda store: store.rename_side(side, nick))

    def side_name(self, session: Session) -> str:
        """The name a direct-conversation side is remembered by: the account, else the nick."""
        return session.account or (session.primary or session).nick

    def peer_side(self, nick: str) -> tuple[str, str] | None:
        """The side and display name meant by ``nick``, or None when it names nobody.

        An online user is its own side; an offline nick stands for the account that owns it.
        """
        peer = self.world.find_user(nick)
        if peer is not None:
            return self.dm_side(peer), self.side_name(peer)
        account = self.accounts.get(nick)
        if account is not None:
            return account_side(account.id), account.name
        return None

    def dm_target(self, session: Session, nick: str) -> str | None:
        """The conversation key of ``session``'s direct messages with ``nick``, or None."""
        peer = self.peer_side(nick)
        return dm_key(self.dm_side(session), peer[0]) if peer is not None else None

    def side_display(self, side: str, remembered: str | None) -> str | None:
        """The nick or name to show for a direct-conversation side, or None if there is none.

        An online connection or account shows its current nick; an offline account its name;
        anything else the name remembered with the conversation.
        """
        account_id = side_account(side)
        if account_id is not None:
            account = self.accounts.by_id(account_id)
            if account is None:
                return remembered  # dropped: nobody can be this side again
            world = self.world
            for user in world.accounts.get(account.key, ()):
                if user.registered and not user.gone and user.account_id == account_id:
                    return (user.primary or user).nick
            return account.name
        holder = self._connections.get(side)
        if holder is not None and not holder.gone:
            return holder.nick
        return remembered

    def peer_names(self, me: str, keys: Iterable[str]) -> dict[str, str]:
        """For each direct-conversation key of ``me``: the name to show for the other side."""
        store = self.history.store
        keys = list(keys)
        remembered = store.dm_names(keys) if store is not None else {}
        shown: dict[str, str] = {}
        for key in keys:
            other = dm_peer(key, me)
            name = self.side_display(other, remembered.get(key, {}).get(other))
            if name is not None:
                shown[key] = name
        return shown

    def replay_direct(self, session: Session) -> None:
        """Show a just logged-in client without chathistory the direct messages it has not read.

        Conversations of the account with a message from someone else after its read marker (and
        inside the on-join window) are replayed, each in a ``chathistory`` batch; the marker then
        moves past them so the next login does not show them again. Clients with
        ``draft/chathistory`` find them with CHATHISTORY TARGETS instead.
        """
        account_id = session.account_id
        if account_id is None or self.settings.history_on_join <= 0:
            return
        if "draft/chathistory" in session.caps:
            return
        # Sent as fast as the client reads it (a conversation at a time): many conversations at
        # once would pass what one loop turn may queue, drop the client, and leave the markers
        # past messages it never got.
        session.send_paced(self._replay_steps(session, account_id))

    def _replay_steps(self, session: Session, account_id: str) -> Iterator[None]:
        """Replay one unread conversation per step, moving its marker once its rows are queued."""
        settings = self.settings
        store, marks = self.history.reading(), self.accounts.store
        if store is None or marks is None:
            return
        me = self.dm_side(session)
        now_ms = int(time.time() * 1000)
        window = now_ms - int(settings.history_on_join_window * 1000)
        fold = self.world.fold
        mine = fold(session.account or "")
        try:
            conversations = store.targets(window, now_ms + 1, 100, channels=(), participant=me)
            names = self.peer_names(me, [key for key, _last_ms in conversations])
        except Exception:
            log.exception("direct message replay failed for %r", session)
            return
        for key, _last_ms in conversations:
            name = names.get(key)
            if name is None or session.gone:
                continue
            try:
                marker = marks.read_marker(account_id, fold(name))
                unsaved = self._unsaved_marks.get((account_id, fold(name)))
                if unsaved is not None:
                    marker = max(marker or 0, unsaved)
                since = max(window, marker if marker is not None else 0)
                rows = store.latest(key, settings.history_on_join, MessageRef(time_ms=since))
            except Exception:
                log.exception("direct message replay failed for %r", session)
                return
            rows = [r for r in rows if r.command in MESSAGES]
            if not any(r.account is None or fold(r.account) != mine for r in rows):
                continue
            self.history.send_rows(session, rows, name)
            self._mark_read(account_id, fold(name), rows[-1].time_ms)
            yield

    def _mark_read(self, account_id: str, target: str, time_ms: int) -> None:
        key = (account_id, target)
        self._unsaved_marks[key] = max(time_ms, self._unsaved_marks.get(key, 0))

        def saved(_future: asyncio.Future[object]) -> None:
            if self._unsaved_marks.get(key) == time_ms:
                del self._unsaved_marks[key]

        self.accounts.write_later(
            lambda store: store.set_read_marker(account_id, target, time_ms), "move a read marker"
        ).add_done_callback(saved)
