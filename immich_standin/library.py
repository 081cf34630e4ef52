"""A generated photo library for tests and the demo, with the answer key.

Every case the engine must get right is in it: nested folders, an excluded folder and
an excluded glob, live-photo pairs, both sidecar spellings, unsupported and hidden
files, NAS and macOS litter, partial downloads, and optionally one large sparse video
(cheap on disk, read in full by the hasher and the upload).

The files are random bytes behind the right magic numbers: the stand-in, like Immich
when it accepts an upload, judges by extension; the bytes only need to be unique.
"""

from __future__ import annotations

import hashlib
import os
import random
import struct
import time
from dataclasses import dataclass, field
from pathlib import Path

JPEG = b"\xff\xd8\xff\xe0"
HEIC = b"\x00\x00\x00\x18ftypheic"
MOV = b"\x00\x00\x00\x14ftypqt  "
MP4 = b"\x00\x00\x00\x18ftypmp42"
PNG = b"\x89PNG\r\n\x1a\n"
XMP = (b'<?xpacket begin="" id="W5M0MpCehiHzreSzNTczkc9d"?>\n'
       b'<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF '
       b'xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#"/></x:xmpmeta>\n'
       b'<?xpacket end="w"?>\n')


@dataclass
class Library:
    """The library and what a correct backup of it leaves on the server."""

    root: Path
    include: list[Path]
    exclude: list[str]
    expected: dict[Path, str] = field(default_factory=dict)  # uploaded file → sha1 hex
    albums: dict[str, set[str]] = field(default_factory=dict)  # album → sha1s
    live_pairs: list[tuple[Path, Path]] = field(default_factory=list)  # (still, video)
    sidecars: dict[Path, Path] = field(default_factory=dict)  # media → its .xmp
    ignored: list[Path] = field(default_factory=list)  # present, must not be uploaded
    durations: dict[Path, int] = field(default_factory=dict)  # video → duration in ms

    def sha1_of(self, path: Path) -> str:
        return hashlib.sha1(path.read_bytes()).hexdigest()


class _Writer:
    def __init__(self, lib: Library, rng: random.Random) -> None:
        self.lib = lib
        self.rng = rng

    def media(self, path: Path, magic: bytes, size: int | None = None,
              album: bool = True) -> Path:
        size = size if size is not None else self.rng.randint(2_000, 40_000)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(magic + self.rng.randbytes(max(0, size - len(magic))))
        digest = hashlib.sha1(path.read_bytes()).hexdigest()
        self.lib.expected[path] = digest
        if album:
            self.lib.albums.setdefault(path.parent.name, set()).add(digest)
        return path

    def ignored(self, path: Path, data: bytes | None = None) -> Path:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data if data is not None else JPEG + self.rng.randbytes(500))
        self.lib.ignored.append(path)
        return path


def make_library(root: Path, *, seed: int = 1, photos: int = 6, big_file_mb: int = 0) -> Library:
    """Write the library under ``root`` and return it with its answer key."""
    rng = random.Random(seed)
    pictures = root / "Pictures"
    phone = root / "Phone"
    lib = Library(
        root=root,
        include=[pictures, phone],
        exclude=[str(pictures / "Screenshots"), "**/WhatsApp Images", "*.tmp.jpg"],
    )
    w = _Writer(lib, rng)

    holiday = pictures / "2024" / "Holiday"
    for i in range(photos):
        w.media(holiday / f"IMG_{1000 + i}.jpg", JPEG)
    w.media(pictures / "2024" / "Family" / "portrait.png", PNG)
    w.media(pictures / "top-level.jpg", JPEG)  # directly in an include root: album "Pictures"

    # Live photos: same stem, image + video, one folder. The video goes up first.
    for stem in ("IMG_2001", "IMG_2002"):
        still = w.media(holiday / f"{stem}.HEIC", HEIC)
        video = w.media(holiday / f"{stem}.MOV", MOV, album=False)  # hidden, not in albums
        lib.live_pairs.append((still, video))

    # Sidecars in both spellings.
    with_ext = w.media(holiday / "IMG_3001.jpg", JPEG)
    sidecar = holiday / "IMG_3001.jpg.xmp"
    sidecar.write_bytes(XMP)
    lib.sidecars[with_ext] = sidecar
    bare = w.media(holiday / "IMG_3002.jpg", JPEG)
    sidecar = holiday / "IMG_3002.xmp"
    sidecar.write_bytes(XMP)
    lib.sidecars[bare] = sidecar

    # Videos, and a second include root. This one has a real movie header: 4.5 s.
    video = phone / "DCIM" / "Camera" / "VID_0001.mp4"
    video.parent.mkdir(parents=True, exist_ok=True)
    video.write_bytes(mp4_with_duration(4500, rng.randbytes(20_000)))
    lib.expected[video] = hashlib.sha1(video.read_bytes()).hexdigest()
    lib.albums.setdefault("Camera", set()).add(lib.expected[video])
    lib.durations[video] = 4500
    w.media(phone / "DCIM" / "Camera" / "PXL_0001.jpg", JPEG)

    # Excluded: a folder, a glob at any depth, a file glob.
    w.ignored(pictures / "Screenshots" / "shot.png", PNG + rng.randbytes(300))
    w.ignored(phone / "Media" / "WhatsApp Images" / "wa.jpg")
    w.ignored(holiday / "scratch.tmp.jpg")
    # Unsupported, hidden, litter and partial downloads.
    w.ignored(holiday / "notes.txt", b"not a photo\n")
    w.ignored(holiday / "document.pdf", b"%PDF-1.4\n")
    w.ignored(holiday / ".hidden.jpg")
    w.ignored(holiday / "._IMG_1000.jpg")
    w.ignored(holiday / ".DS_Store", b"\x00\x00\x00\x01Bud1")
    w.ignored(holiday / "@eaDir" / "IMG_1000.jpg" / "SYNOPHOTO_THUMB_XL.jpg")
    w.ignored(holiday / "movie.mp4.part", MP4 + rng.randbytes(300))
    w.ignored(holiday / "photo.jpg.crdownload")

    if big_file_mb:
        big = phone / "DCIM" / "Camera" / "BIG_0001.mov"
        _sparse(big, big_file_mb << 20, rng)
        digest = _sha1_file(big)
        lib.expected[big] = digest
        lib.albums.setdefault(big.parent.name, set()).add(digest)
    # Photos taken before the backup starts: files written just now would wait for
    # backup.settle_time, as a copy still going on does.
    yesterday = time.time() - 86400
    for path in root.rglob("*"):
        os.utime(path, (yesterday, yesterday), follow_symlinks=False)
    return lib


def mp4_with_duration(ms: int, media: bytes, *, moov_last: bool = True) -> bytes:
    """A minimal ISO-BMFF file: ftyp, mdat, and a moov whose mvhd says ``ms`` long."""

    def box(kind: bytes, payload: bytes) -> bytes:
        return struct.pack(">I4s", 8 + len(payload), kind) + payload

    timescale = 600
    mvhd = box(b"mvhd", bytes(4) + struct.pack(">IIII", 0, 0, timescale, ms * timescale // 1000)
               + bytes(80))
    parts = [box(b"ftyp", b"isom\x00\x00\x02\x00isomiso2mp41"), box(b"mdat", media)]
    moov = box(b"moov", mvhd)
    parts.insert(2 if moov_last else 1, moov)
    return b"".join(parts)


def _sparse(path: Path, size: int, rng: random.Random) -> None:
    """A file of ``size`` bytes that costs a few KB: data at both ends, a hole between."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("wb") as fh:
        fh.write(MOV + rng.randbytes(4096))
        fh.truncate(size)
        fh.seek(size - 4096)
        fh.write(rng.randbytes(4096))


def _sha1_file(path: Path) -> str:
    h = hashlib.sha1()
    with path.open("rb") as fh:
        while chunk := fh.read(1 << 20):
            h.update(chunk)
    return h.hexdigest()


def touch_later(path: Path, seconds: int = 10) -> None:
    """Move a file's mtime forward, as an edit would."""
    st = path.stat()
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + seconds * 1_000_000_000))
