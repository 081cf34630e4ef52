"""Baseline: a bare ``os.scandir`` + ``stat`` walk of a tree, in a fresh interpreter.

``python -m bench.bare_walk ROOT`` prints the number of files. Start-up is part of what
the bench times, as it is for ``immich-backupd once``.
"""

import os
import sys


def walk(root: str) -> int:
    n = 0
    stack = [root]
    while stack:
        with os.scandir(stack.pop()) as it:
            for entry in it:
                if entry.is_dir(follow_symlinks=False):
                    stack.append(entry.path)
                else:
                    entry.stat(follow_symlinks=False)
                    n += 1
    return n


if __name__ == "__main__":
    print(walk(sys.argv[1]))
