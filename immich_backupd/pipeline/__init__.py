"""A backup pass: candidates → dedupe → upload → albums, with bounded concurrency.

- ``plan``: pure decisions per file and the grouping of live photos.
- ``connect``: the handshake with the server (version, key, media types, quota).
- ``runner``: the bounded async pipeline of one pass.
- ``albums``: album sync after the uploads.
"""
