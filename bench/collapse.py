"""Summarise a collapsed-stack profile (``py-spy record --format raw``): the functions
with the most samples, inclusive and self. ``python -m bench.collapse FILE [N]``."""

from __future__ import annotations

import sys
from collections import Counter


def summarise(path: str, top: int = 25) -> str:
    incl: Counter[str] = Counter()
    self_: Counter[str] = Counter()
    threads: Counter[str] = Counter()
    total = 0
    with open(path, encoding="utf-8", errors="replace") as f:
        for line in f:
            stack, _, count = line.rstrip("\n").rpartition(" ")
            if not stack:
                continue
            n = int(count)
            total += n
            frames = stack.split(";")
            threads[frames[0]] += n
            seen = set()
            for fr in frames[1:]:
                if fr not in seen:
                    incl[fr] += n
                    seen.add(fr)
            self_[frames[-1]] += n
    out = [f"{total} samples", "threads:"]
    out += [f"  {n * 100 / total:5.1f}%  {t}" for t, n in threads.most_common(8)]
    out.append("inclusive:")
    out += [f"  {n * 100 / total:5.1f}%  {fr}" for fr, n in incl.most_common(top)]
    out.append("self:")
    out += [f"  {n * 100 / total:5.1f}%  {fr}" for fr, n in self_.most_common(top)]
    return "\n".join(out)


if __name__ == "__main__":
    print(summarise(sys.argv[1], int(sys.argv[2]) if len(sys.argv) > 2 else 25))
