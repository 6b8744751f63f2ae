"""hubbub: real-time chat. An IRC server with IRCv3, a desktop client and an async client library."""

__version__ = "0.1.0"
