"""The spec loader and validators on their own."""

from __future__ import annotations

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from immich_standin.multipart import (
    MultipartError,
    MultipartParser,
    PartData,
    PartStart,
    _parse_headers,
    _parse_headers_email,
)
from immich_standin.spec import load_spec, spec_major_for


def test_version_mapping():
    assert [spec_major_for(v) for v in ("2.7.0", "3.1.0", "1.106.0", "4.0.0")] == [2, 3, 3, 3]


def test_literal_paths_win_over_templates():
    spec = load_spec(3)
    op, params = spec.match("PUT", "/albums/assets")
    assert op.template == "/albums/assets" and params == {}
    op, params = spec.match("PUT", "/albums/abc/assets")
    assert op.template == "/albums/{id}/assets" and params == {"id": "abc"}
    assert spec.match("POST", "/assets/exist") is None
    assert load_spec(2).match("POST", "/assets/exist") is not None


def test_nullable_is_a_type_union():
    spec = load_spec(3)
    schema = {"$ref": "#/components/schemas/UserAdminResponseDto"}
    issues = spec.validate_value(schema, {"quotaSizeInBytes": None})
    assert not any(i.path == ("quotaSizeInBytes",) for i in issues)


def test_multipart_rules():
    spec = load_spec(3)
    op, _ = spec.match("POST", "/assets")
    fields = {"fileCreatedAt": "2024-01-01T00:00:00", "fileModifiedAt": "2024-01-01T00:00:00Z",
              "isFavorite": "1", "duration": "12", "deviceId": "x"}
    issues, unknown = spec.validate_multipart(op, fields, {"assetData"})
    assert {i.path[0] for i in issues} == {"fileCreatedAt", "isFavorite"}
    assert unknown == ["deviceId"]
    v2 = load_spec(2)
    op2, _ = v2.match("POST", "/assets")
    issues, _ = v2.validate_multipart(op2, {"assetData": "text"}, set())
    paths = {i.path[0] for i in issues}
    assert {"assetData", "deviceAssetId", "deviceId", "fileCreatedAt"} <= paths


def test_multipart_parser_streams_in_tiny_chunks():
    body = (b"--XY\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\nvalue\r\n"
            b"--XY\r\nContent-Disposition: form-data; name=\"f\"; filename=\"f.jpg\"\r\n"
            b"Content-Type: image/jpeg\r\n\r\n\r\n--X\r\nbinary\r\n--XY--\r\n")
    parser = MultipartParser("XY")
    events = []
    for i in range(len(body)):
        events += parser.feed(body[i:i + 1])
    parser.close()
    starts = [e for e in events if isinstance(e, PartStart)]
    assert [(s.name, s.filename) for s in starts] == [("a", None), ("f", "f.jpg")]
    data = b"".join(e.data for e in events if isinstance(e, PartData))
    assert data == b"value" + b"\r\n--X\r\nbinary"


def test_multipart_parser_detects_truncation():
    parser = MultipartParser("XY")
    parser.feed(b"--XY\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\nval")
    try:
        parser.close()
    except MultipartError:
        return
    raise AssertionError("truncation not detected")


def _parts_of(events: list) -> list[tuple[str | None, bytes]]:
    out: list[tuple[str | None, bytes]] = []
    for e in events:
        if isinstance(e, PartStart):
            out.append((e.name, b""))
        elif isinstance(e, PartData):
            name, data = out[-1]
            out[-1] = (name, data + bytes(e.data))
    return out


def test_multipart_parser_same_parts_at_any_chunking():
    """Large parts go through without the buffer (views of each chunk); near-delimiters
    split across chunks must still be told from the real one, at every chunk size."""
    import random

    rng = random.Random(5)
    boundary = "b0undary"
    tricky = b"\r\n--b0undar" + b"\r\n--" + b"\r" + b"--b0undary"  # no CRLF before it
    parts = [("a", b"text"), ("f", rng.randbytes(3000) + tricky + rng.randbytes(700)),
             ("g", tricky * 40), ("e", b""), ("h", rng.randbytes(257))]
    body = b"".join(
        f"--{boundary}\r\nContent-Disposition: form-data; name=\"{n}\"; filename=\"{n}.jpg\""
        f"\r\n\r\n".encode() + data + b"\r\n" for n, data in parts) + f"--{boundary}--\r\n".encode()
    def parse(chunks: list[bytes]) -> list[tuple[str | None, bytes]]:
        parser = MultipartParser(boundary)
        events: list = []
        for chunk in chunks:
            events += parser.feed(chunk)
        parser.close()
        return _parts_of(events)

    # Every chunk size up to 120 puts a chunk's end at every place in some delimiter.
    for size in [*range(1, 121), 999, len(body)]:
        assert parse([body[i:i + size] for i in range(0, len(body), size)]) == parts, size
    for _ in range(50):
        cuts = sorted(rng.sample(range(1, len(body)), 40))
        pieces = zip([0, *cuts], [*cuts, len(body)], strict=True)
        assert parse([body[a:b] for a, b in pieces]) == parts


# Part headers: the regular-expression path must read exactly what the email package
# reads, and leave to it whatever it does not handle.
_PIECE = st.sampled_from(["a", "Z", "0", "_", "-", ".", " ", "\t", "\"", "\\", ";", "=",
                          "*", "'", "é", "%", "/", "asset Data", "IMG_0001.jpg"])
_VALUE = st.lists(_PIECE, max_size=6).map("".join)
_SPACE = st.sampled_from(["", " ", "  ", "\t"])


@st.composite
def _header_block(draw: st.DrawFn) -> bytes:
    key = draw(st.sampled_from(["Content-Disposition", "content-disposition",
                                "CONTENT-DISPOSITION"]))
    params = [f"name=\"{draw(_VALUE)}\"" if draw(st.booleans()) else f"name={draw(_VALUE)}"]
    if draw(st.booleans()):
        fname = draw(_VALUE)
        params.append(draw(st.sampled_from([f"filename=\"{fname}\"", f"filename={fname}",
                                            f"filename*=UTF-8''{fname}"])))
    if draw(st.booleans()):
        params.append(f"other=\"{draw(_VALUE)}\"")
    seps = [draw(_SPACE) + ";" + draw(_SPACE) for _ in params]
    line = f"{key}:{draw(_SPACE)}form-data" + "".join(s + p for s, p in zip(seps, params,
                                                                            strict=True))
    line += draw(_SPACE)
    lines = [line]
    if draw(st.booleans()):
        ctype = f"Content-Type:{draw(_SPACE)}{draw(st.sampled_from(['image/jpeg', 'x', '']))}"
        lines.append(ctype + draw(_SPACE))
    if draw(st.booleans()):
        lines.reverse()
    return "\r\n".join(lines).encode("utf-8")


@settings(max_examples=600, deadline=None)
@given(_header_block())
@example(b'Content-Disposition: form-data; name=" a "; filename=" b.jpg\t"')
@example(b'Content-Disposition: form-data; name="a"; filename=""\r\nContent-Type:  ')
@example(b'Content-Disposition: form-data; name="a\\"b"; filename="c"')
@example(b'Content-Disposition: form-data; name="a"; filename="c\\d"')
@example(b'Content-Disposition: form-data; name="a"; filename*=UTF-8\'\'%C3%A9.jpg')
@example(b'Content-Type: image/jpeg\r\nContent-Disposition: form-data; name="a"')
@example(b'Content-Disposition: form-data; name="a"; filename="\xc3\xa9.jpg"')
@example(b'Content-Disposition: form-data; name="a"; filename="\xff.jpg"')  # not UTF-8
@example(b'Content-Disposition: form-data; filename="b"; name="a"')
@example(b'Content-Disposition: attachment; name="a"')
def test_part_headers_read_as_the_email_package_reads_them(block: bytes) -> None:
    try:
        want: PartStart | str = _parse_headers_email(block)
    except MultipartError as exc:
        want = str(exc)
    try:
        got: PartStart | str = _parse_headers(block)
    except MultipartError as exc:
        got = str(exc)
    assert got == want


def test_part_headers_common_forms_take_the_fast_path(monkeypatch: pytest.MonkeyPatch) -> None:
    """What the clients send is read without the email package (the point of the path)."""
    import immich_standin.multipart as mp

    def refuse(block: bytes) -> PartStart:
        raise AssertionError(f"email package used for {block!r}")

    monkeypatch.setattr(mp, "_parse_headers_email", refuse)
    assert _parse_headers(b'Content-Disposition: form-data; name="assetData"; '
                          b'filename="IMG 1.jpg"\r\nContent-Type: application/octet-stream'
                          ) == PartStart("assetData", "IMG 1.jpg", "application/octet-stream")
    assert _parse_headers(b'Content-Disposition: form-data; name="fileCreatedAt"'
                          ) == PartStart("fileCreatedAt", None, None)
