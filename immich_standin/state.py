"""The stand-in's in-memory world: users, API keys, assets, albums and what happened.

Tests read and change this while the server runs in another thread, so every access
goes through one re-entrant lock. Uploads do their check-and-insert under the lock so
that concurrent uploads of the same bytes give exactly one ``created`` (like the unique
index on ``(ownerId, checksum)`` in the real database).

Only what a backup client can observe is modelled. File contents are not kept (a test
may upload hundreds of megabytes): an asset keeps the SHA-1 and size of the bytes that
actually arrived, plus its sidecar bytes, which are small.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import secrets
import threading
import time
import uuid
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any

from .jobs import JobQueues

ALL_PERMISSIONS = "all"


def now_iso() -> str:
    """A UTC timestamp the way Immich prints them (millisecond precision, ``Z``)."""
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def new_id() -> str:
    return str(uuid.uuid4())


def decode_checksum(value: str | bytes) -> bytes | None:
    """Decode a client checksum like the server: base64 when 28 characters, else hex.

    Returns ``None`` for junk (the server then simply finds no match).
    """
    if isinstance(value, bytes):
        return value
    try:
        if len(value) == 28:
            return base64.b64decode(value, validate=True)
        return bytes.fromhex(value)
    except (ValueError, binascii.Error):
        return None


@dataclass
class User:
    id: str
    email: str
    name: str
    is_admin: bool = False
    quota_size_in_bytes: int | None = None
    quota_usage_in_bytes: int = 0
    created_at: str = field(default_factory=now_iso)
    storage_label: str | None = None


@dataclass
class ApiKey:
    id: str
    secret: str
    name: str
    user_id: str
    permissions: list[str]
    created_at: str = field(default_factory=now_iso)
    updated_at: str = field(default_factory=now_iso)

    def allows(self, permission: str | None) -> bool:
        return permission is None or ALL_PERMISSIONS in self.permissions or (
            permission in self.permissions
        )


@dataclass
class Asset:
    id: str
    owner_id: str
    checksum: bytes
    original_file_name: str
    type: str  # "IMAGE" | "VIDEO"
    size: int
    file_created_at: str
    file_modified_at: str
    visibility: str = "timeline"
    is_favorite: bool = False
    is_trashed: bool = False
    live_photo_video_id: str | None = None
    sidecar: bytes | None = None
    device_asset_id: str | None = None
    device_id: str | None = None
    duration: str | None = None
    created_at: str = field(default_factory=now_iso)
    stack_id: str | None = None  # the stack it is in (asset.stackId)
    tag_ids: set[str] = field(default_factory=set)  # tag_asset rows

    @property
    def checksum_hex(self) -> str:
        return self.checksum.hex()

    @property
    def checksum_b64(self) -> str:
        return base64.b64encode(self.checksum).decode()

    def to_json(self) -> dict[str, Any]:
        out = asdict(self)
        out["checksum"] = self.checksum_hex
        out["checksum_b64"] = self.checksum_b64
        out["sidecar"] = None if self.sidecar is None else self.sidecar.decode("utf-8", "replace")
        out["tag_ids"] = sorted(self.tag_ids)  # a set in memory; JSON has lists
        return out


@dataclass
class Album:
    id: str
    name: str
    owner_id: str
    asset_ids: list[str] = field(default_factory=list)
    description: str = ""
    created_at: str = field(default_factory=now_iso)
    updated_at: str = field(default_factory=now_iso)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class Tag:
    """A tag: ``value`` is its full path (``Trips/2024/Rome``), ``name`` the last part."""

    id: str
    owner_id: str
    value: str
    parent_id: str | None = None
    created_at: str = field(default_factory=now_iso)

    @property
    def name(self) -> str:
        return self.value.rpartition("/")[2]

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class Stack:
    """A stack: its members are the assets whose ``stack_id`` is its id (as in the
    database, where ``asset.stackId`` points at the stack)."""

    id: str
    owner_id: str
    primary_asset_id: str
    created_at: str = field(default_factory=now_iso)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class Counters:
    """How often things happened; tests assert on these (e.g. "nothing re-uploaded")."""

    upload_requests: int = 0
    created: int = 0
    duplicates: int = 0
    early_duplicates: int = 0
    upload_errors: int = 0
    bulk_checks: int = 0
    bulk_items_checked: int = 0
    albums_created: int = 0
    stacks_created: int = 0
    stacks_deleted: int = 0  # by DELETE, and when a new stack replaced them
    tags_created: int = 0
    tag_requests: int = 0  # PUT /tags/assets, PUT /tags/{id}/assets
    tags_made: int = 0  # (asset, tag) pairs those made (lost ones too)
    untag_requests: int = 0  # DELETE /tags/{id}/assets
    updates: int = 0  # PUT /assets/{id}
    faults_injected: int = 0


@dataclass
class RequestRecord:
    method: str
    path: str
    query: str
    status: int | None
    correlation_id: str
    headers: dict[str, str]
    note: str = ""
    at: float = field(default_factory=time.monotonic)  # when it arrived (monotonic)


class StandinState:
    """Everything the server knows, guarded by ``lock``."""

    def __init__(self) -> None:
        self.lock = threading.RLock()
        self.users: dict[str, User] = {}
        self.api_keys: dict[str, ApiKey] = {}  # secret -> key
        self.assets: dict[str, Asset] = {}
        self.albums: dict[str, Album] = {}
        self.stacks: dict[str, Stack] = {}
        self.tags: dict[str, Tag] = {}
        # Tags set on assets that the server's jobs will take away again (the measured
        # loss on real servers, see api_tags.py): how many of the next pairs set by
        # PUT /tags/assets are lost, and which assets they are taken from first.
        self.tags_to_lose = 0
        # And the other way: how many of the next pairs taken off by DELETE
        # /tags/{id}/assets the jobs put back.
        self.untags_to_undo = 0
        self.counters = Counters()
        self.requests: list[RequestRecord] = []
        self.violations: list[str] = []
        self.unknown_fields: list[str] = []
        self.internal_errors: list[str] = []  # bugs in the stand-in itself
        self._by_checksum: dict[tuple[str, bytes], str] = {}
        # The background job queues (set by the server for its version's queue names).
        self.jobs = JobQueues([])

    # ------------------------------------------------------------------ users
    def add_user(
        self,
        email: str | None = None,
        name: str | None = None,
        *,
        quota: int | None = None,
        is_admin: bool = False,
    ) -> User:
        with self.lock:
            n = len(self.users) + 1
            user = User(
                id=new_id(),
                email=email or f"user{n}@example.com",
                name=name or f"User {n}",
                is_admin=is_admin,
                quota_size_in_bytes=quota,
                storage_label="admin" if is_admin else None,
            )
            self.users[user.id] = user
            return user

    def create_api_key(
        self,
        user_id: str,
        permissions: Iterable[str] = (ALL_PERMISSIONS,),
        *,
        name: str = "backup",
        secret: str | None = None,
    ) -> str:
        """Create a key for ``user_id`` with ``permissions``; return its secret."""
        with self.lock:
            if user_id not in self.users:
                raise KeyError(f"no user {user_id}")
            secret = secret or secrets.token_urlsafe(32)
            self.api_keys[secret] = ApiKey(
                id=new_id(), secret=secret, name=name, user_id=user_id,
                permissions=list(permissions),
            )
            return secret

    def add_user_with_key(
        self,
        permissions: Iterable[str] = (ALL_PERMISSIONS,),
        *,
        quota: int | None = None,
        email: str | None = None,
    ) -> tuple[User, str]:
        """Convenience: a new user and a key for them."""
        user = self.add_user(email, quota=quota)
        return user, self.create_api_key(user.id, permissions)

    def revoke_api_key(self, secret: str) -> None:
        with self.lock:
            self.api_keys.pop(secret, None)

    def key(self, secret: str) -> ApiKey | None:
        with self.lock:
            return self.api_keys.get(secret)

    def user_for_key(self, secret: str) -> User | None:
        with self.lock:
            key = self.api_keys.get(secret)
            return None if key is None else self.users.get(key.user_id)

    def set_quota(self, user_id: str, size: int | None) -> None:
        with self.lock:
            self.users[user_id].quota_size_in_bytes = size

    # ----------------------------------------------------------------- assets
    def find_asset_by_checksum(
        self, checksum: str | bytes, user_id: str | None = None
    ) -> Asset | None:
        """Find an asset by SHA-1 (hex, base64 or raw); any owner unless ``user_id``."""
        raw = decode_checksum(checksum)
        if raw is None:
            return None
        with self.lock:
            if user_id is not None:
                aid = self._by_checksum.get((user_id, raw))
                return None if aid is None else self.assets.get(aid)
            return next((a for a in self.assets.values() if a.checksum == raw), None)

    def assets_of(self, user_id: str) -> list[Asset]:
        with self.lock:
            return [a for a in self.assets.values() if a.owner_id == user_id]

    def insert_asset_unless_duplicate(self, asset: Asset) -> tuple[Asset, bool]:
        """Insert ``asset`` unless its owner has one with the same checksum.

        Returns ``(asset_in_db, created)``; the check and insert are atomic.
        """
        with self.lock:
            key = (asset.owner_id, asset.checksum)
            existing = self._by_checksum.get(key)
            if existing is not None:
                return self.assets[existing], False
            self.assets[asset.id] = asset
            self._by_checksum[key] = asset.id
            self.users[asset.owner_id].quota_usage_in_bytes += asset.size
            return asset, True

    def seed_asset(
        self,
        owner_id: str,
        data: bytes,
        filename: str = "seed.jpg",
        *,
        asset_type: str | None = None,
        trashed: bool = False,
        visibility: str = "timeline",
    ) -> Asset:
        """Put an asset on the server as if it had been uploaded earlier."""
        if asset_type is None:
            from .media import asset_type_for

            asset_type = asset_type_for(filename) or "IMAGE"
        stamp = now_iso()
        asset = Asset(
            id=new_id(), owner_id=owner_id, checksum=hashlib.sha1(data).digest(),
            original_file_name=filename, type=asset_type, size=len(data),
            file_created_at=stamp, file_modified_at=stamp, is_trashed=trashed,
            visibility=visibility,
        )
        stored, _ = self.insert_asset_unless_duplicate(asset)
        return stored

    def trash_asset(self, asset_id: str) -> None:
        with self.lock:
            self.assets[asset_id].is_trashed = True

    def restore_asset(self, asset_id: str) -> None:
        with self.lock:
            self.assets[asset_id].is_trashed = False

    def delete_asset(self, asset_id: str) -> None:
        """Remove an asset for good (like emptying the trash)."""
        with self.lock:
            asset = self.assets.pop(asset_id)
            self._by_checksum.pop((asset.owner_id, asset.checksum), None)
            user = self.users.get(asset.owner_id)
            if user is not None:
                user.quota_usage_in_bytes = max(0, user.quota_usage_in_bytes - asset.size)
            for album in self.albums.values():
                if asset_id in album.asset_ids:
                    album.asset_ids.remove(asset_id)
            # stack.primaryAssetId cascades: the stack goes, its members are unstacked
            for stack in [s for s in self.stacks.values() if s.primary_asset_id == asset_id]:
                self.delete_stack(stack.id)

    # ----------------------------------------------------------------- albums
    def create_album(
        self, owner_id: str, name: str, asset_ids: Iterable[str] = (), description: str = ""
    ) -> Album:
        with self.lock:
            album = Album(
                id=new_id(), name=name, owner_id=owner_id, asset_ids=list(dict.fromkeys(asset_ids)),
                description=description,
            )
            self.albums[album.id] = album
            self.counters.albums_created += 1
            return album

    def albums_named(self, name: str) -> list[Album]:
        with self.lock:
            return [a for a in self.albums.values() if a.name == name]

    # ----------------------------------------------------------------- tags
    def upsert_tag(self, owner_id: str, value: str) -> Tag:
        """The tag ``value`` of ``owner_id``, made with its parents where missing (the
        server's ``upsertTags``: ``a/b/c`` makes ``a`` and ``a/b`` too)."""
        with self.lock:
            parent: Tag | None = None
            parts = [p for p in value.split("/") if p]
            for depth in range(1, len(parts) + 1):
                path = "/".join(parts[:depth])
                tag = next((t for t in self.tags.values()
                            if t.owner_id == owner_id and t.value == path), None)
                if tag is None:
                    tag = Tag(new_id(), owner_id, path, parent.id if parent else None)
                    self.tags[tag.id] = tag
                    self.counters.tags_created += 1
                parent = tag
            assert parent is not None
            return parent

    # ----------------------------------------------------------------- stacks
    def create_stack(self, owner_id: str, asset_ids: list[str]) -> Stack:
        """``POST /stacks`` as the real server's repository does it, in one step: stacks
        whose *primary* asset is among ``asset_ids`` are deleted and their members join
        the new stack; the first id becomes its primary; every listed asset is moved into
        it (out of whatever stack it was in, which keeps its other members). So stacking
        the same pair twice replaces the stack by a new one."""
        with self.lock:
            ids = set(asset_ids)
            merged = [s for s in self.stacks.values()
                      if s.owner_id == owner_id and s.primary_asset_id in ids]
            members = set(ids)
            for old in merged:
                members.update(a.id for a in self.assets.values() if a.stack_id == old.id)
                self.delete_stack(old.id)
            stack = Stack(id=new_id(), owner_id=owner_id, primary_asset_id=asset_ids[0])
            self.stacks[stack.id] = stack
            for aid in members:
                if aid in self.assets:
                    self.assets[aid].stack_id = stack.id
            self.counters.stacks_created += 1
            return stack

    def delete_stack(self, stack_id: str) -> None:
        """Delete a stack; its members stay, unstacked (``asset.stackId`` is set null)."""
        with self.lock:
            if self.stacks.pop(stack_id, None) is None:
                return
            for asset in self.assets.values():
                if asset.stack_id == stack_id:
                    asset.stack_id = None
            self.counters.stacks_deleted += 1

    def stack_members(self, stack_id: str) -> list[Asset]:
        """The assets a stack shows: not trashed, not hidden; the primary first."""
        with self.lock:
            stack = self.stacks[stack_id]
            members = [a for a in self.assets.values() if a.stack_id == stack_id
                       and not a.is_trashed and a.visibility in ("timeline", "archive")]
            members.sort(key=lambda a: a.id != stack.primary_asset_id)
            return members

    # ------------------------------------------------------------- recording
    def add_violation(self, text: str) -> None:
        with self.lock:
            self.violations.append(text)

    def add_internal_error(self, text: str) -> None:
        with self.lock:
            self.internal_errors.append(text)

    def record_request(self, record: RequestRecord) -> None:
        with self.lock:
            self.requests.append(record)

    def bump(self, counter: str, by: int = 1) -> None:
        with self.lock:
            setattr(self.counters, counter, getattr(self.counters, counter) + by)

    def snapshot(self) -> dict[str, Any]:
        """A JSON-ready copy of the interesting state (for ``/_standin/state``)."""
        with self.lock:
            return {
                "users": [
                    {**asdict(u), "api_keys": [
                        {"id": k.id, "name": k.name, "permissions": k.permissions}
                        for k in self.api_keys.values() if k.user_id == u.id
                    ]}
                    for u in self.users.values()
                ],
                "assets": [a.to_json() for a in self.assets.values()],
                "albums": [a.to_json() for a in self.albums.values()],
                "stacks": [s.to_json() for s in self.stacks.values()],
                "tags": [t.to_json() for t in self.tags.values()],
                "counters": asdict(self.counters),
                "violations": list(self.violations),
                "unknown_fields": list(self.unknown_fields),
                "internal_errors": list(self.internal_errors),
                "requests": [asdict(r) for r in self.requests[-500:]],
            }
