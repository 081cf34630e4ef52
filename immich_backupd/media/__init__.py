"""What a file is and what it holds, told from its name and its headers.

- :mod:`.kinds`: what counts as media (extensions, ignored names), sidecars, live pairs;
- :mod:`.stacks`: which files of a folder are one stack (RAW+JPEG, bursts), by name;
- :mod:`.placeholders`: cloud placeholders, files whose photo is not on this disk;
- :mod:`.exif`, :mod:`.capture_containers`, :mod:`.videoinfo`: where a file keeps its
  Exif, its dates, a video's duration (headers only, on a binary stream);
- :mod:`.capture_date`: when a photo or video was taken; :mod:`.appleburst`: an
  iPhone burst's id.

Decisions from names never touch the file system; the readers work on a binary stream
and open a file only where they are given its path (``read_burst``, ``capture_date``,
``duration_ms``), to read headers. Nothing here imports an I/O framework, nor any module
of ours but ``i18n``.
"""
