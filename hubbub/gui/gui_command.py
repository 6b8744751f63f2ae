"""``hubbub gui``: open the desktop client, with the connect form or straight onto a server."""

from __future__ import annotations

import argparse
import logging
import signal
import sys


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``hubbub gui``; with ``--host`` (or ``--nick``) it connects without the form."""
    parser.add_argument("--host", help="server to connect to at once (skips the connect form)")
    parser.add_argument("--port", type=int, default=1100, help="server port (default 1100)")
    parser.add_argument("--tls", action="store_true", help="connect with TLS")
    parser.add_argument("--nick", help="nickname (default: your user name)")
    parser.add_argument("--password", default="", help="account password (SASL PLAIN)")
    parser.add_argument("--join", default="", metavar="CHANNELS", help="channels to join, comma separated")
    parser.add_argument("--theme", choices=("light", "dark", "system"), help="colour theme (remembered)")
    parser.add_argument("--font-size", type=int, metavar="N", help="text size in points (remembered)")
    parser.add_argument("--max-lines", type=int, metavar="N", help="lines kept per buffer (default 2000)")
    parser.add_argument("--config-dir", metavar="DIR", help="where profiles and settings are kept")


NO_TKINTER = """\
hubbub gui: the desktop client needs Tkinter, which this Python does not have ({error}).
Install it, then run `hubbub gui` again:
  Debian, Ubuntu:   sudo apt install python3-tk
  Fedora:           sudo dnf install python3-tkinter
  macOS:            the Python installer from python.org includes it; with Homebrew,
                    brew install python-tk
(With pyenv or another Python built from source, install Tk's development files and build
that Python again.)"""


def run(args: argparse.Namespace) -> int:
    """Open the window and run until it is closed."""
    try:
        import tkinter as tk
    except ImportError as exc:
        print(NO_TKINTER.format(error=exc), file=sys.stderr)
        return 1

    from . import profiles
    from ._connect import _default_nick
    from ._emoji import prefer_colour_emoji
    from .app import ChatWindow
    from .events import ConnectOptions

    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    directory = profiles.config_dir(args.config_dir)
    settings = profiles.load(directory)
    if args.theme:
        settings.theme = args.theme
    if args.font_size:
        settings.font_size = max(7, min(args.font_size, 32))
    if args.max_lines:
        settings.max_lines = max(50, args.max_lines)
    prefer_colour_emoji()  # before the first window: fontconfig reads its configuration once
    try:
        root = tk.Tk(className="hubbub")
    except tk.TclError as exc:
        print(f"hubbub gui: cannot open a window: {exc}", file=sys.stderr)
        return 1
    window = ChatWindow(root, settings, directory)

    def terminate(signum: int, frame: object) -> None:
        # Leave the network as the window's close button does (QUIT, then close), from Tk's loop.
        root.after(0, window.close)

    for sig in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, terminate)
    # The idle window runs no timer, so Python's handlers get to run only if a signal wakes Tk.
    signal.set_wakeup_fd(window.events.write_fd, warn_on_full_buffer=False)
    if args.host or args.nick:
        channels = tuple(c.strip() for c in args.join.split(",") if c.strip())
        window.connect(
            ConnectOptions(
                host=args.host or "127.0.0.1",
                port=args.port,
                nick=args.nick or settings.default_nick or _default_nick(),
                tls=args.tls,
                password=args.password,
                channels=tuple(c if c[:1] in "#&" else "#" + c for c in channels),
            )
        )
    elif not window.reopen_servers():  # the servers open at the last exit, else the form
        window.show_connect_form()
    try:
        root.mainloop()
    except KeyboardInterrupt:
        window.close()
    finally:
        signal.set_wakeup_fd(-1)  # the window closed its pipe
    return 0
