"""What counts as media on disk: extensions, ignored names, sidecars and live-photo pairs.

Pure: decides from names alone, never touches the file system, so the scanner and the
watcher share one definition of "a file we back up" and tests need no files.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Literal

Kind = Literal["image", "video", "sidecar"]

SIDECAR_EXT = ".xmp"
"""The only sidecar the server takes as ``sidecarData``."""


def extension(name: str) -> str:
    """Return the lower-cased dotted extension of ``name`` ('' when it has none).

    A leading dot is not an extension (``.xmp`` alone is a hidden file called "xmp").
    """
    i = name.rfind(".")
    if i <= 0:
        return ""
    return name[i:].lower()


def stem(name: str) -> str:
    """Return ``name`` without its last extension (``a.jpg.xmp`` -> ``a.jpg``)."""
    i = name.rfind(".")
    return name if i <= 0 else name[:i]


# --- Ignored names -------------------------------------------------------------------------

_IGNORED_FILES = frozenset({"thumbs.db", "ehthumbs.db", "desktop.ini", "icon\r"})
# Partial downloads and editors' temporary files: uploading one would back up a torso.
_PARTIAL_SUFFIXES = (
    ".part",
    ".partial",
    ".crdownload",
    ".download",
    ".tmp",
    ".temp",
    ".!qb",
    "~",
)
_IGNORED_DIRS = frozenset(
    {
        "@eadir",  # Synology thumbnails
        "#recycle",  # Synology / QNAP recycle bin
        "#snapshot",  # Synology snapshots: a second copy of everything
        "$recycle.bin",  # Windows recycle bin
        "system volume information",
        "lost+found",
    }
)


def is_ignored_name(name: str) -> bool:
    """Return True for files that are never media worth backing up.

    Hidden files (which covers AppleDouble ``._*``, ``.DS_Store`` and Syncthing's
    ``.syncthing.*.tmp``), OS litter (``Thumbs.db``, ``desktop.ini``) and partial
    downloads or temporary files, which are still being written and would otherwise be
    uploaded half-finished.
    """
    if name.startswith("."):
        return True
    low = name.lower()
    return low in _IGNORED_FILES or low.endswith(_PARTIAL_SUFFIXES)


def is_ignored_dir(name: str) -> bool:
    """Return True for folders never descended into: hidden ones (``.Trash-1000``,
    ``.@__thumb``), NAS thumbnail/recycle/snapshot folders and ``lost+found``.

    Their content is either derived (thumbnails), deleted (recycle bins) or a second
    copy (snapshots): walking them costs time and uploads junk or duplicates.
    """
    return name.startswith(".") or name.lower() in _IGNORED_DIRS


# --- Media types ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class MediaTypes:
    """The extensions the server accepts, as ``GET /api/server/media-types`` lists them.

    Taken from the server rather than hard-coded so that a newer server's formats are
    picked up without a client release, and files it refuses (400 ``Unsupported file
    type``) are never sent.
    """

    image: frozenset[str]
    video: frozenset[str]
    sidecar: frozenset[str]
    _lookup: dict[str, Kind] = field(init=False, repr=False, compare=False, hash=False)
    _full_ignore_check: bool = field(init=False, repr=False, compare=False, hash=False)

    @classmethod
    def from_server(cls, data: Mapping[str, Iterable[str]]) -> MediaTypes:
        """Build from the server's JSON answer; normalises case and adds a missing dot."""

        def norm(key: str) -> frozenset[str]:
            out = set()
            for ext in data.get(key, ()):
                ext = ext.strip().lower()
                if ext:
                    out.add(ext if ext.startswith(".") else "." + ext)
            return frozenset(out)

        return cls(image=norm("image"), video=norm("video"), sidecar=norm("sidecar"))

    def __post_init__(self) -> None:
        # One dict lookup per file in the scanner's hot loop instead of three set probes.
        lookup: dict[str, Kind] = {}
        for ext in self.sidecar:
            lookup[ext] = "sidecar"
        for ext in self.video:
            lookup[ext] = "video"
        for ext in self.image:
            lookup[ext] = "image"
        object.__setattr__(self, "_lookup", lookup)
        # No supported extension can end an ignored name (".part", "~", "thumbs.db", ...) in
        # any real list, so candidate() need only test for a leading dot; a list that does
        # collide gets the full is_ignored_name() check.
        collide = any(
            ext.endswith(_PARTIAL_SUFFIXES) or any(f.endswith(ext) for f in _IGNORED_FILES)
            for ext in lookup
        )
        object.__setattr__(self, "_full_ignore_check", collide)

    def kind_of(self, name: str) -> Kind | None:
        """Return what ``name`` is by its (case-insensitive) extension, or None if unsupported."""
        i = name.rfind(".")  # extension() inlined: this runs for every file scanned
        return None if i <= 0 else self._lookup.get(name[i:].lower())

    def candidate(self, name: str) -> Kind | None:
        """Return the kind of a file the scanner should keep, None if unsupported or ignored.

        Equals ``None if is_ignored_name(name) else kind_of(name)``, in one pass: this is
        the scanner's per-file hot path.
        """
        i = name.rfind(".")
        if i <= 0 or name[0] == ".":
            return None
        kind = self._lookup.get(name[i:].lower())
        if kind is not None and self._full_ignore_check and is_ignored_name(name):
            return None
        return kind


# A snapshot of what Immich v3.1 answers, for tests and for a first look before the server
# has been asked. The server's own list always wins at run time.
# fmt: off
DEFAULT_MEDIA_TYPES = MediaTypes(
    image=frozenset({
        ".3fr", ".ari", ".arw", ".avif", ".bmp", ".cap", ".cin", ".cr2", ".cr3", ".crw", ".dcr",
        ".dng", ".erf", ".fff", ".gif", ".heic", ".heif", ".hif", ".iiq", ".insp", ".jp2", ".jpe",
        ".jpeg", ".jpg", ".jxl", ".k25", ".kdc", ".mrw", ".nef", ".nrw", ".orf", ".ori", ".pef",
        ".png", ".psd", ".raf", ".raw", ".rw2", ".rwl", ".sr2", ".srf", ".srw", ".svg", ".tif",
        ".tiff", ".webp", ".x3f",
    }),
    video=frozenset({
        ".3gp", ".3gpp", ".avi", ".flv", ".insv", ".m2t", ".m2ts", ".m4v", ".mkv", ".mov", ".mp4",
        ".mpe", ".mpeg", ".mpg", ".mts", ".vob", ".webm", ".wmv",
    }),
    sidecar=frozenset({".xmp"}),
)
# fmt: on

# --- Sidecars ------------------------------------------------------------------------------


def match_sidecars(media_names: Iterable[str], names_in_dir: Iterable[str]) -> dict[str, str]:
    """Return media name -> sidecar name for every media file that has one, the
    folder's names indexed once.

    ``x.jpg.xmp`` (Darktable, digiKam, Immich itself) is preferred over ``x.xmp``
    (Lightroom, Capture One). Names compare case-insensitively, because cameras write
    ``IMG_1.JPG`` and editors ``IMG_1.xmp``, and on macOS/Windows they are the same name.
    ``x.xmp`` is ambiguous when ``x.jpg`` and ``x.mov`` both exist: it is attached to
    both, since the metadata (rating, tags, dates) is about the shot, not one file of it.
    """
    # lower-cased name without ".xmp" -> the real sidecar names that fold to it
    index: dict[str, list[str]] = {}
    for n in names_in_dir:
        if extension(n) == SIDECAR_EXT:
            index.setdefault(n[: -len(SIDECAR_EXT)].lower(), []).append(n)
    if not index:
        return {}
    out: dict[str, str] = {}
    for name in media_names:
        low = name.lower()
        base = name
        found = index.get(low)  # "x.jpg.xmp" first
        if found is None:
            i = low.rfind(".")
            if i <= 0:
                continue
            base = name[:i]
            found = index.get(low[:i])  # then "x.xmp"
            if found is None:
                continue
        if len(found) > 1:  # several spellings: prefer the media name's own case
            found = [n for n in found if n.startswith(base)] or found
        out[name] = min(found)
    return out


# --- Live photos ---------------------------------------------------------------------------

RAW_EXTENSIONS = frozenset({
    ".3fr", ".ari", ".arw", ".cap", ".cr2", ".cr3", ".crw", ".dcr", ".dng", ".erf", ".fff",
    ".iiq", ".k25", ".kdc", ".mrw", ".nef", ".nrw", ".orf", ".ori", ".pef", ".raf", ".raw",
    ".rw2", ".rwl", ".sr2", ".srf", ".srw", ".x3f",
})
"""RAW formats among the server's image types (Immich's own list of raw formats): a live
photo's RAW still, and the RAW half of a RAW+JPEG stack (:mod:`.stacks`)."""


def live_photo_pairs(files: Mapping[str, str]) -> dict[str, str]:
    """Return still name -> motion video name for live photos in one folder.

    ``files`` maps names to their kind. A live photo is an image and a video with the
    same stem (case-insensitive: ``IMG_1234.HEIC`` + ``IMG_1234.MOV``; an iPhone's ProRAW
    live photo: ``IMG_1234.DNG`` + ``IMG_1234.MOV``). A group of one video and two stills,
    one RAW and one not (``IMG_1.DNG`` + ``IMG_1.HEIC`` + ``IMG_1.MOV``: a RAW+HEIC
    capture, or a ProRAW photo exported with its rendering), is paired with the non-RAW
    still, because:

    - the server links by content, not name: reading a still after the video, it links
      that still when its Apple maker note carries the video's content identifier
      (``com.apple.quicktime.content.identifier``), whichever still it is: its own linking
      makes no choice to copy;
    - in the Photos library such a capture is one asset whose photo is the HEIC/JPEG, the
      DNG its alternate, and the motion video belongs to that asset; Immich's iOS app
      uploads that photo (immich-app/immich#16891: the JPEG of a RAW+JPEG asset) with
      the video linked;
    - with ``backup.stacks.raw_jpeg`` the HEIC/JPEG is the cover of the RAW+JPEG stack,
      so the still shown is the one that plays.

    Any other group with several stills or videos is not paired: with ``IMG_1.HEIC``,
    ``IMG_1.JPG`` and ``IMG_1.MOV`` we cannot tell which still the motion belongs to, and
    a wrong link would hide the video on the server, so such groups stay separate assets.
    """
    kinds = set(files.values())
    if "image" not in kinds or "video" not in kinds:
        return {}  # most folders: nothing to pair, and no stem to take of each name
    groups: dict[str, tuple[list[str], list[str]]] = {}
    for name, kind in files.items():
        if kind == "image" or kind == "video":
            images, videos = groups.setdefault(stem(name).lower(), ([], []))
            (images if kind == "image" else videos).append(name)
    pairs = {}
    for images, videos in groups.values():
        if len(videos) == 1:
            still = _live_still(images)
            if still is not None:
                pairs[still] = videos[0]
    return pairs


def _live_still(images: list[str]) -> str | None:
    """The still a group's one video belongs to: the only one, or the non-RAW of a RAW
    and a rendered still (see :func:`live_photo_pairs`); None when it cannot be told."""
    if len(images) == 1:
        return images[0]
    if len(images) == 2:
        rendered = [n for n in images if extension(n) not in RAW_EXTENSIONS]
        if len(rendered) == 1:
            return rendered[0]
    return None
