"""``hubbub history``: export, import, delete and list stored history.

Safe to run while the server is running: the store uses write-ahead logging, so readers do not
block the server, and a write waits for the server's current commit. ``--store URL`` works on a
PostgreSQL store instead of the data directory's SQLite file, so
``hubbub history export --data-dir D | hubbub history import --store postgresql://...`` moves a
community's history there (and the other way back).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import TextIO

from hubbub.protocol import casefold

from .archive import format_time, parse_since, read_archive, write_archive
from .model import Store, StoreError, dm_sides
from .sqlite import DATABASE_NAME, open_store
from .url import open_store_url


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the ``history`` actions and their options to ``parser``."""
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--data-dir",
        default=os.environ.get("HUBBUB_DATA_DIR", "./hubbub-data"),
        help="the server's data directory (default: $HUBBUB_DATA_DIR or ./hubbub-data)",
    )
    common.add_argument(
        "--store",
        metavar="URL",
        default=os.environ.get("HUBBUB_STORE_URL", ""),
        help="a PostgreSQL store (postgresql://user@host/db) instead of the data directory's"
        " SQLite file (default: $HUBBUB_STORE_URL, else the data directory)",
    )
    actions = parser.add_subparsers(dest="action", metavar="ACTION")
    actions.required = True

    export = actions.add_parser("export", parents=[common], help="write history as JSON lines")
    export.add_argument("--target", help="one conversation: a channel such as '#chat' (default: all)")
    export.add_argument("--since", help="only messages from this time: ISO 8601 or epoch milliseconds")
    export.add_argument("--output", "-o", help="file to write (default: standard output)")

    imp = actions.add_parser("import", parents=[common], help="read JSON lines back (skips known msgids)")
    imp.add_argument("file", nargs="?", default="-", help="archive to read, or - for standard input")

    delete = actions.add_parser("delete", parents=[common], help="delete the history of one conversation")
    delete.add_argument("--target", required=True, help="the conversation, e.g. '#chat'")

    actions.add_parser(
        "targets",
        parents=[common],
        help="list stored conversations with message counts (and who a direct one is between)",
    )


def _open(args: argparse.Namespace) -> Store:
    return open_store_url(args.store) if args.store else open_store(args.data_dir)


def run(args: argparse.Namespace) -> int:
    """Run one ``history`` action; returns the exit status."""
    try:
        if args.action == "import":
            return _import(args)
        path = Path(args.data_dir) / DATABASE_NAME
        if not args.store and not path.exists():
            print(f"hubbub history: no history store at {path}", file=sys.stderr)
            return 1
        store = _open(args)
        with contextlib.closing(store):
            if args.action == "export":
                return _export(store, args)
            if args.action == "delete":
                return _delete(store, args)
            return _targets(store)
    except (StoreError, ValueError, OSError) as exc:
        print(f"hubbub history {args.action}: {exc}", file=sys.stderr)
        return 1


def resolve_target(store: Store, given: str) -> str | None:
    """The stored conversation key meant by ``given``: as typed, or casefolded; None if unknown."""
    known = {key for key, _count, _last in store.conversations()}
    for key in (given, casefold(given, "ascii"), casefold(given, "rfc1459")):
        if key in known:
            return key
    return None


@contextlib.contextmanager
def _output(name: str | None) -> Iterator[TextIO]:
    if name is None or name == "-":
        yield sys.stdout
        return
    with open(name, "w", encoding="utf-8", newline="\n") as out:
        yield out


def _export(store: Store, args: argparse.Namespace) -> int:
    target = None
    if args.target is not None:
        target = resolve_target(store, args.target)
        if target is None:
            print(f"hubbub history export: no history for {args.target}", file=sys.stderr)
            return 1
    since = parse_since(args.since) if args.since else None
    with _output(args.output) as out:
        count = write_archive(store, out, target, since)
    print(f"exported {count} messages", file=sys.stderr)
    return 0


def _import(args: argparse.Namespace) -> int:
    with contextlib.closing(_open(args)) as store:
        if args.file == "-":
            imported, skipped = read_archive(store, sys.stdin)
        else:
            with open(args.file, encoding="utf-8") as archive:
                imported, skipped = read_archive(store, archive)
    print(f"imported {imported} messages, skipped {skipped} already present", file=sys.stderr)
    return 0


def _delete(store: Store, args: argparse.Namespace) -> int:
    target = resolve_target(store, args.target)
    if target is None:
        print(f"hubbub history delete: no history for {args.target}", file=sys.stderr)
        return 1
    deleted = store.delete_target(target)
    print(f"deleted {deleted} messages of {target}", file=sys.stderr)
    return 0


def _targets(store: Store) -> int:
    conversations = store.conversations()
    names = store.dm_names(key for key, _count, _last in conversations)
    for key, count, last_ms in conversations:
        line = f"{key}\t{count}\t{format_time(last_ms)}"
        sides = dm_sides(key)
        if sides is not None:
            # The sides of a direct conversation are identities; show who they were.
            known = names.get(key, {})
            line += "\t" + ",".join(known.get(side, side) for side in sides)
        print(line)
    return 0
