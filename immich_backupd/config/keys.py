"""The one description of the config file's keys: path, type, default, one line of doc.

Everything that lists keys derives from ``KEYS``: the known keys of each section (unknown
keys are errors, with a "did you mean"), ``CONFIG_KEYS``, and the tests that hold
docs/configuration.md's key table and config.example.yaml to it (every key described is
in both with this type and default, and nothing else is). The readers in ``sections.py``
and ``albums.py`` check the values; a key added here without a reader is reported by
``tests/test_config_keys.py``.

``kind`` and ``default`` are written as the documentation's table shows them: ``section``
for a mapping of further keys, ``required`` for a key without a default, ``none`` for a
key that is absent unless set, otherwise the default in backticks.
"""

from __future__ import annotations

from typing import Final, NamedTuple


class Key(NamedTuple):
    """One key of the config file. (A named tuple, not a dataclass: this module is on
    every start-up's import path, and a tuple class costs a fraction to create.)"""

    path: str  # dotted: ``backup.retry.initial``
    kind: str  # section, boolean, integer, duration, path, string, URL, ...
    default: str  # ``required``, ``none``, or the default as YAML in backticks
    doc: str  # one line; docs/configuration.md says more

    @property
    def section(self) -> str:
        """The dotted path of the section holding the key ("" for the top level)."""
        return self.path.rpartition(".")[0]

    @property
    def name(self) -> str:
        return self.path.rpartition(".")[2]


# Every key, in the order of the documentation (a section before its keys): path, type,
# default, one line of doc; columns separated by "| " (no cell holds one).
_TABLE: Final = """
server | section | required | Where the Immich server is and how to log in.
server.url                       | URL | required | The address Immich is opened at.
server.api_key                   | string | none | The API key itself (prefer api_key_file).
server.api_key_file              | path | none | A file holding only the API key.
server.ca_file                   | path | none | A PEM bundle of extra CAs to trust.
server.verify_tls                | boolean | `true` | Verify the server's certificate.
server.timeout                   | duration | `60s` | How long one request may take.
server.pause_jobs_during_import | boolean | `false` | Pause the job queues in a large import.
server.pause_jobs_threshold | integer | `1000` | Files to upload above which the queues are paused.
state_dir | path | `~/.local/state/immich-backupd` | The backup state (SQLite) and the lock.
albums                           | section | required | Which folders are backed up.
albums.include | list of paths or mappings | required | Folders backed up with all below.
albums.exclude                   | list of strings | `[]` | What to leave out; exclusion wins.
backup                           | section | `{}` | How and when files are uploaded.
backup.album_sync                | boolean | `true` | One server album per folder.
backup.concurrency               | integer | `2` | Uploads in flight at once, 1 to 16.
backup.trigger_delay             | duration | `5s` | Quiet time after a change before a pass.
backup.max_delay                 | duration | `50s` | Longest a change waits while changes go on.
backup.rescan_interval           | duration | `1h` | How often every folder is rescanned.
backup.settle_time               | duration | `30s` | How long a file must be unchanged.
backup.require_charging          | boolean | `false` | Back up only on mains power.
backup.require_unmetered         | boolean | `false` | Back up only on unmetered networks.
backup.metered                   | section | `{}` | What may go up on a metered network.
backup.metered.photos            | boolean | `true` | Photos may go up when metered.
backup.metered.videos            | boolean | `false` | Videos may go up when metered.
backup.ignore_cloud_placeholders | boolean | `true` | Skip cloud files not on this disk.
backup.follow_symlinks           | boolean | `false` | Follow symbolic links.
backup.check_batch_size          | integer | `1000` | Checksums per request, 1 to 5000.
backup.verify_interval           | duration | `1d` | How often the server is asked about every file.
backup.bandwidth                 | rate or timetable | `"off"` | A cap on the upload stream.
backup.quiet_hours               | time ranges | none | Times of day without uploads.
backup.stacks | section | `{}` | Which files are stacked on the server.
backup.stacks.raw_jpeg | boolean | `true` | Stack a RAW with its JPEG/HEIC (same name).
backup.stacks.bursts | boolean | `false` | Stack a burst's photos under its cover.
backup.retry                     | section | `{}` | Retrying a failed upload.
backup.retry.max_attempts        | integer | `8` | Tries per file before it is listed.
backup.retry.initial             | duration | `2s` | The first wait between tries.
backup.retry.max                 | duration | `10m` | The longest wait between tries.
notifications                    | section | `{}` | Desktop notifications.
notifications.desktop            | boolean | `true` | Long passes, new failures, quota, bad key.
dashboard                        | section | `{}` | The local dashboard and JSON API.
dashboard.enabled                | boolean | `true` | Serve the dashboard while the daemon runs.
dashboard.listen                 | string | `127.0.0.1:8484` | Where it listens.
dashboard.tls_cert               | path | none | A PEM certificate: the dashboard speaks HTTPS.
dashboard.tls_key                | path | none | The PEM key of tls_cert.
log_level                        | string | `info` | How much the daemon logs.
"""

#: Every key, in the order of the documentation (a section before its keys).
KEYS: Final[tuple[Key, ...]] = tuple(
    Key(*(cell.strip() for cell in row.split("| "))) for row in _TABLE.strip().splitlines()
)


# The keys of one ``albums.include`` entry written as a mapping instead of a path, in
# the order of docs/configuration.md's "Per-folder settings" table; same columns.
_INCLUDE_ENTRY_TABLE: Final = """
path   | path | required | The folder, as a plain entry gives it.
album  | string | `folder` | The album: folder, path, a fixed name, or none.
tags   | list of strings | `[]` | Tags put on every file below it.
folder_as_tags | boolean | `false` | The folder path below it as a tag too.
"""

#: The keys of an ``albums.include`` entry that is a mapping.
INCLUDE_ENTRY_KEYS: Final[tuple[Key, ...]] = tuple(
    Key(*(cell.strip() for cell in row.split("| ")))
    for row in _INCLUDE_ENTRY_TABLE.strip().splitlines()
)


def _sections(keys: tuple[Key, ...]) -> dict[str, tuple[str, ...]]:
    out: dict[str, list[str]] = {"": []}
    for key in keys:
        if key.kind == "section":
            out.setdefault(key.path, [])
    for key in keys:
        out[key.section].append(key.name)
    return {section: tuple(names) for section, names in out.items()}


#: The keys each section may hold ("" is the top level), in the order of ``KEYS``.
SECTIONS: Final[dict[str, tuple[str, ...]]] = _sections(KEYS)

#: Every key of the config file as a dotted path (``backup.retry.initial``), sections too,
#: grouped by section.
CONFIG_KEYS: Final[tuple[str, ...]] = tuple(
    f"{section}.{key}" if section else key for section, keys in SECTIONS.items() for key in keys
)

#: The type of each key (``KEYS``' second column) by dotted path.
KINDS: Final[dict[str, str]] = {key.path: key.kind for key in KEYS}
