"""What is backed up and whether it changed since its backup.

- :mod:`.rules`: which folders are backed up and to which album (pure; the config, the
  watcher and the walk share it);
- :mod:`.walk`: the file-system walk, one folder at a time (synchronous, no asyncio);
- :mod:`.changes`: the one change rule (size, mtime, inode) and :class:`~.changes.FileStat`;
- :mod:`.mounts`: which files are on a local disk, where a ``stat`` may run on the loop;
- :mod:`.folder_problems`: folders a pass could not back up (not there, unreadable),
  and how they are told.
"""
