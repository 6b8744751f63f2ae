"""hubbub's benchmark: a multi-process IRC load generator run against hubbub and peer servers.

``python -m bench`` runs the short scenarios against hubbub and miniircd and prints a markdown
table; ``--full`` uses the sizes the performance targets are stated at. See docs/performance.md.
"""
