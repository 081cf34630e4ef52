"""immich-backupd: back photo and video folders up to an Immich server, each file exactly once."""

__version__ = "0.1.0"
