"""Command handlers, one module per topic, and the table that dispatches to them.

The handlers are small functions ``handler(session, message)``; :mod:`.table` lists every command
with its handler and the checks the session applies before calling it (as Ergo's
``irc/commands.go`` does). The topic modules never import the table.
"""
