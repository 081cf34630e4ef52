"""Run the stand-in in the foreground: ``python -m immich_standin --port 0``.

Prints one JSON line ``{"url": ..., "api_key": ...}`` on stdout once listening (and
writes it to ``--ready-file``), so a test or demo can start it as a subprocess, read the
line and go. Stops on SIGTERM/SIGINT; ``--state-dump`` gets the state as JSON on exit and
on SIGUSR1.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import sys
from pathlib import Path

from .server import StandinCore


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m immich_standin", description=__doc__)
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=0)
    p.add_argument("--version", default="3.1.0", help="server version to emulate")
    p.add_argument("--api-key", default=None, help="secret of the default key (random)")
    p.add_argument(
        "--permissions", default="all",
        help="comma-separated permissions of the default key (default: all)",
    )
    p.add_argument("--quota", type=int, default=None, help="quota of the default user, bytes")
    p.add_argument("--ready-file", type=Path, default=None)
    p.add_argument("--state-dump", type=Path, default=None)
    p.add_argument("--seed", type=int, default=0, help="seed for random-rate faults")
    return p.parse_args(argv)


def _write_atomic(path: Path, text: str) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


async def serve(args: argparse.Namespace) -> None:
    core = StandinCore(
        version=args.version, host=args.host, port=args.port, api_key=args.api_key,
        quota=args.quota, permissions=[p for p in args.permissions.split(",") if p],
        seed=args.seed,
    )
    await core.start()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()

    def dump() -> None:
        if args.state_dump is not None:
            _write_atomic(args.state_dump, json.dumps(core.state.snapshot(), indent=2))

    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    loop.add_signal_handler(signal.SIGUSR1, dump)
    line = json.dumps({"url": core.url, "api_key": core.api_key, "version": core.version})
    if args.ready_file is not None:
        _write_atomic(args.ready_file, line + "\n")
    sys.stdout.write(line + "\n")
    sys.stdout.flush()
    try:
        await stop.wait()
    finally:
        dump()
        await core.stop()


def main(argv: list[str] | None = None) -> int:
    asyncio.run(serve(parse_args(argv)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
