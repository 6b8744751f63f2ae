"""The Tkinter desktop client (``hubbub gui``), built on :mod:`hubbub.client`.

The network runs in the client library's asyncio driver on a worker thread (:mod:`._bridge`);
the window takes events from a queue and applies them in bounded batches, so it never blocks.
"""
