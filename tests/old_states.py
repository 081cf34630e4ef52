"""State databases of earlier releases, for the tests of the migrations and of what
reads an old state (the pass, ``status``, the dry run).

:func:`old_state` makes a new one as the release of that schema made it (its first
migrations and nothing more); :func:`downgrade` turns a state this release wrote (a
real backup's) into one of an earlier schema, checked against :func:`old_state`'s.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

from immich_backupd.state import MIGRATIONS, SCHEMA_VERSION

# What takes each migration step back (step i: from schema i+1 to i). A new step needs
# its undo here for the tests that downgrade a real backup's state.
UNDO: dict[int, str] = {
    2: "DROP TRIGGER files_forgotten; DROP TABLE sidecars;",
    3: "DROP TABLE stacks;",
    4: "DROP TABLE asset_tags;",
    5: "DROP TABLE tag_removals; DROP TABLE tag_ids;",
    6: "ALTER TABLE files DROP COLUMN burst;",
    7: "DROP TABLE album_removals;",
}


def old_state(path: Path, version: int) -> sqlite3.Connection:
    """A new state database at ``path`` of schema ``version``; its connection
    (autocommit) for the test to fill and close."""
    conn = sqlite3.connect(path, isolation_level=None)
    conn.executescript("BEGIN;" + "".join(MIGRATIONS[:version])
                       + f"PRAGMA user_version={version};COMMIT;")
    return conn


def schema_of(conn: sqlite3.Connection) -> set[tuple[str, str, str]]:
    """The tables, indexes and triggers of ``conn``'s database, their SQL without
    layout: what tells two schemas apart."""
    return {(kind, name, " ".join((sql or "").replace('"', "").split()))
            for kind, name, sql in conn.execute(
                "SELECT type, name, sql FROM sqlite_master WHERE name NOT LIKE 'sqlite_%'")}


def downgrade(conn: sqlite3.Connection, version: int, scratch: Path) -> None:
    """Take ``conn``'s database (of this release) back to schema ``version``, its
    records kept, in one transaction; checked to have the schema :func:`old_state`
    makes (built in the folder ``scratch``)."""
    missing = [step for step in range(version, SCHEMA_VERSION) if step not in UNDO]
    assert not missing, f"tests/old_states.py: UNDO lacks the undo of steps {missing}"
    script = "".join(UNDO[step] for step in reversed(range(version, SCHEMA_VERSION)))
    conn.executescript(f"BEGIN;{script}PRAGMA user_version={version};COMMIT;")
    fresh = old_state(scratch / f"schema-{version}.sqlite3", version)
    try:
        assert schema_of(conn) == schema_of(fresh)
    finally:
        fresh.close()
