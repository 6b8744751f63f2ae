"""The connect form: server, port, TLS, nick, account password, channels; remembers profiles."""

from __future__ import annotations

import getpass
import tkinter as tk
from collections.abc import Callable
from tkinter import font as tkfont
from tkinter import ttk

from .profiles import Profile, Settings
from .theme import Theme


class ConnectForm(tk.Frame):
    """A card in the middle of the window; ``on_connect(profile, remember_password)`` when submitted."""

    def __init__(
        self,
        master: tk.Misc,
        fonts: dict[str, tkfont.Font],
        theme: Theme,
        settings: Settings,
        on_connect: Callable[[Profile, bool], None],
    ) -> None:
        super().__init__(master, background=theme.sidebar_bg)
        self.settings = settings
        self.on_connect = on_connect
        card = tk.Frame(self, background=theme.bg, padx=32, pady=28, highlightthickness=1)
        card.configure(highlightbackground=theme.border, highlightcolor=theme.border)
        card.place(relx=0.5, rely=0.5, anchor="center")
        tk.Label(
            card,
            text="Connect to a chat server",
            font=fonts["title"],
            background=theme.bg,
            foreground=theme.fg,
        ).grid(row=0, column=0, columnspan=2, sticky="w", pady=(0, 16))
        self.vars: dict[str, tk.StringVar] = {
            key: tk.StringVar(self) for key in ("profile", "host", "port", "nick", "password", "channels")
        }
        self.tls = tk.BooleanVar(self)
        self.remember = tk.BooleanVar(self)
        rows = [
            ("Profile", "profile"),
            ("Server", "host"),
            ("Port", "port"),
            ("Nickname", "nick"),
            ("Account password", "password"),
            ("Channels", "channels"),
        ]
        self.entries: dict[str, ttk.Entry | ttk.Combobox] = {}
        for i, (label, key) in enumerate(rows, start=1):
            tk.Label(card, text=label, background=theme.bg, foreground=theme.muted, font=fonts["small"]).grid(
                row=i, column=0, sticky="w", padx=(0, 16), pady=4
            )
            widget: ttk.Entry | ttk.Combobox
            if key == "profile":
                widget = ttk.Combobox(
                    card, textvariable=self.vars[key], width=32, values=[p.name for p in settings.profiles]
                )
                widget.bind("<<ComboboxSelected>>", lambda _e: self.load(self.vars["profile"].get()))
            else:
                widget = ttk.Entry(
                    card,
                    textvariable=self.vars[key],
                    width=34,
                    font=fonts["ui"],
                    show="•" if key == "password" else "",
                )
            widget.grid(row=i, column=1, sticky="ew", pady=4)
            widget.bind("<Return>", lambda _e: self.submit())
            self.entries[key] = widget
        checks = tk.Frame(card, background=theme.bg)
        checks.grid(row=len(rows) + 1, column=1, sticky="w", pady=(6, 0))
        ttk.Checkbutton(checks, text="Use TLS", variable=self.tls).pack(side="left")
        ttk.Checkbutton(checks, text="Remember password", variable=self.remember).pack(
            side="left", padx=(16, 0)
        )
        self.error = tk.Label(
            card,
            text="",
            background=theme.bg,
            foreground=theme.error,
            font=fonts["small"],
            wraplength=380,
            justify="left",
        )
        self.error.grid(row=len(rows) + 2, column=0, columnspan=2, sticky="w", pady=(8, 0))
        self.button = ttk.Button(card, text="Connect", command=self.submit, style="Accent.TButton")
        self.button.grid(row=len(rows) + 3, column=1, sticky="e", pady=(12, 0))
        last = settings.profile(settings.last_profile) or (
            settings.profiles[-1] if settings.profiles else None
        )
        self.fill(last or Profile(nick=settings.default_nick or _default_nick(), channels=["#general"]))

    def fill(self, p: Profile) -> None:
        """Put ``p`` in the fields."""
        v = self.vars
        v["profile"].set(p.name)
        v["host"].set(p.host)
        v["port"].set(str(p.port))
        v["nick"].set(p.nick)
        v["password"].set(p.password)
        v["channels"].set(", ".join(p.channels))
        self.tls.set(p.tls)
        self.remember.set(bool(p.password))
        self.entries["nick"].focus_set()

    def load(self, name: str) -> None:
        """Fill the fields from the saved profile ``name``."""
        profile = self.settings.profile(name)
        if profile is not None:
            self.fill(profile)

    def submit(self) -> None:
        """Check the fields and hand a profile to ``on_connect``."""
        v = self.vars
        host, nick = v["host"].get().strip(), v["nick"].get().strip()
        try:
            port = int(v["port"].get().strip())
            if not 0 < port < 65536:
                raise ValueError
        except ValueError:
            self.error.configure(text="The port must be a number from 1 to 65535.")
            return
        if not host or not nick or " " in nick:
            self.error.configure(text="A server and a nickname (without spaces) are needed.")
            return
        channels = [c.strip() for c in v["channels"].get().replace(" ", ",").split(",") if c.strip()]
        channels = [c if c[:1] in "#&" else "#" + c for c in channels]
        profile = Profile(
            name=v["profile"].get().strip() or f"{nick}@{host}",
            host=host,
            port=port,
            tls=self.tls.get(),
            nick=nick,
            password=v["password"].get(),
            channels=channels,
        )
        self.error.configure(text="")
        self.on_connect(profile, self.remember.get())


def _default_nick() -> str:
    try:
        name = getpass.getuser()
    except (KeyError, OSError):
        return "guest"
    return "".join(ch for ch in name if ch.isalnum() or ch in "_-[]") or "guest"
