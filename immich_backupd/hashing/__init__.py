"""A file's content digests: SHA-1 (the server's checksum) and BLAKE3 (ours).

- :mod:`.digest`: both digests in one read, on the calling thread (pure of asyncio);
- :mod:`.hasher`: :class:`~.hasher.Hasher`, which runs it in a small thread pool off the
  event loop.
"""
