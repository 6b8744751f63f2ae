"""The ``hubbub`` command: ``serve``, ``gui``, ``history`` and the rest.

Each subcommand lives with the code it drives; this module only builds the parser and
imports the chosen command lazily, so ``hubbub serve`` never imports Tkinter.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from hubbub import __version__

# name -> (module, help); the module has ``add_arguments(parser)`` and ``run(args) -> int``
COMMANDS: dict[str, tuple[str, str]] = {
    "serve": ("hubbub.server.serve_command", "run the chat server"),
    "gui": ("hubbub.gui.gui_command", "open the desktop client"),
    "history": ("hubbub.store.history_command", "export, import or delete stored history"),
    "account": ("hubbub.accounts_command", "create, change, delete or list accounts"),
    "gen-cert": ("hubbub.gencert_command", "write a self-signed TLS certificate for development"),
}


def build_parser() -> argparse.ArgumentParser:
    """The argument parser for every subcommand."""
    parser = argparse.ArgumentParser(prog="hubbub", description="Real-time chat over IRC.")
    parser.add_argument("--version", action="version", version=f"hubbub {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    for name, (module_name, help_text) in COMMANDS.items():
        sp = sub.add_parser(name, help=help_text, description=help_text)
        sp.set_defaults(_parser=sp)
        try:
            module = importlib.import_module(module_name)
        except ImportError as exc:
            sp.set_defaults(_unavailable=str(exc))
            continue
        module.add_arguments(sp)
        sp.set_defaults(_run=module.run)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``hubbub`` console script."""
    parser = build_parser()
    args, unknown = parser.parse_known_args(argv)
    if unknown:
        # Show the usage of the subcommand that was mistyped, not the top-level one.
        args._parser.error(f"unrecognized arguments: {' '.join(unknown)}")
    if getattr(args, "_unavailable", None):
        print(f"hubbub {args.command}: not available: {args._unavailable}", file=sys.stderr)
        return 2
    return int(args._run(args))


if __name__ == "__main__":
    sys.exit(main())
