"""The client's config file for a bench run, written once for every scenario.

Albums are off (the official CLI, without ``-a``, makes none: like is compared with
like) and so are desktop notifications; a scenario adds its own ``backup`` keys (the
daemon's ``trigger_delay``) or top-level ones (``log_level``).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any


def write_config(path: Path, url: str, key: str, state_dir: Path, include: Path, *,
                 backup: dict[str, Any] | None = None, **top: Any) -> Path:
    """Write the config to ``path`` (mode 0600, as the client wants it) backing up
    ``include`` (made if missing) into ``state_dir``; return ``path``."""
    include.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({
        "server": {"url": url, "api_key": key},
        "state_dir": str(state_dir),
        "albums": {"include": [str(include)]},
        "backup": {"album_sync": False, **(backup or {})},
        "notifications": {"desktop": False},
        **top,
    }, indent=2))
    path.chmod(0o600)
    return path
