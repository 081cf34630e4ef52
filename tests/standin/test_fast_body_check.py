"""The bulk-upload-check shortcut: same verdicts as jsonschema, only faster.

The reference everywhere is ``spec.validate_value(schema, body)``, which is plain
jsonschema validation of the operation's body schema.
"""

from __future__ import annotations

import copy
import hashlib
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from immich_standin.spec import FAST_BODY_CHECKS, Spec, load_spec

PATH = "/assets/bulk-upload-check"
DTO = "#/components/schemas/AssetBulkUploadCheckDto"
SHA = hashlib.sha1(b"x").hexdigest()


def _ok(i: int = 0) -> dict[str, Any]:
    return {"id": f"IMG_{i}.jpg", "checksum": SHA}


# (body, takes the fast path, valid for the schema)
BODIES: list[tuple[Any, bool, bool]] = [
    ({"assets": [_ok()]}, True, True),
    ({"assets": [_ok(i) for i in range(100)]}, True, True),
    ({"assets": []}, True, True),  # valid for the schema; the handler answers 500
    ({"assets": [{"id": "", "checksum": ""}]}, True, True),  # no length limits
    ({"assets": [{"checksum": SHA, "id": "key order does not matter"}]}, True, True),
    # Allowed by the schema (no additionalProperties: false), but via the full validation.
    ({"assets": [_ok()], "extra": 1}, False, True),
    ({"assets": [{**_ok(), "extra": "x"}]}, False, True),
    ({"assets": [_ok(), {**_ok(1), "deviceAssetId": None}]}, False, True),
    # Invalid.
    ({}, False, False),
    ({"asset": []}, False, False),
    ({"asset": [], "assets": "no"}, False, False),
    ({"assets": None}, False, False),
    ({"assets": "IMG_1.jpg"}, False, False),
    ({"assets": {"id": "a", "checksum": SHA}}, False, False),
    ({"assets": [None]}, False, False),
    ({"assets": ["IMG_1.jpg"]}, False, False),
    ({"assets": [[_ok()]]}, False, False),
    ({"assets": [{"id": "a"}]}, False, False),
    ({"assets": [{"checksum": SHA}]}, False, False),
    ({"assets": [{}]}, False, False),
    ({"assets": [{"id": 1, "checksum": SHA}]}, False, False),
    ({"assets": [{"id": None, "checksum": SHA}]}, False, False),
    ({"assets": [{"id": True, "checksum": SHA}]}, False, False),
    ({"assets": [{"id": ["a"], "checksum": SHA}]}, False, False),
    ({"assets": [{"id": "a", "checksum": 1.5}]}, False, False),
    ({"assets": [{"id": "a", "checksum": None}]}, False, False),
    ({"assets": [{"id": "a", "checksum": {"sha1": SHA}}]}, False, False),
    ({"assets": [{"id": "a", "extra": 1}]}, False, False),
    ({"assets": [_ok(0), {"id": 2, "checksum": 3}, _ok(2), {"id": "x"}]}, False, False),
    ([_ok()], False, False),
    ("assets", False, False),
    (None, False, False),
    (42, False, False),
]


def _op(spec: Spec) -> Any:
    match = spec.match("POST", PATH)
    assert match is not None
    return match[0]


@pytest.mark.parametrize("major", [2, 3])
def test_the_shortcut_is_active_for_both_specs(major):
    spec = load_spec(major)
    assert _op(spec).body_schema("application/json") == {"$ref": DTO}
    assert DTO in spec._fast_body_checks


@pytest.mark.parametrize("major", [2, 3])
@pytest.mark.parametrize(("body", "fast", "valid"), BODIES)
def test_same_issues_as_jsonschema(major, body, fast, valid):
    spec = load_spec(major)
    op = _op(spec)
    schema = op.body_schema("application/json")
    reference = spec.validate_value(schema, body)
    assert (reference == []) is valid
    assert FAST_BODY_CHECKS["AssetBulkUploadCheckDto"].accepts(body) is fast
    assert spec.validate_json_body(op, body) == reference


@pytest.mark.parametrize("major", [2, 3])
def test_a_valid_body_skips_jsonschema(major, monkeypatch):
    spec = load_spec(major)
    op = _op(spec)

    def boom(*_: Any) -> Any:
        raise AssertionError("jsonschema ran for a body the shortcut accepts")

    monkeypatch.setattr(spec, "validate_value", boom)
    assert spec.validate_json_body(op, {"assets": [_ok(i) for i in range(5000)]}) == []
    with pytest.raises(AssertionError, match="jsonschema ran"):
        spec.validate_json_body(op, {"assets": [{"id": "a"}]})


@pytest.mark.parametrize(
    "change",
    [
        lambda s: s["AssetBulkUploadCheckItem"].update(additionalProperties=False),
        lambda s: s["AssetBulkUploadCheckItem"]["properties"]["id"].update(minLength=1),
        lambda s: s["AssetBulkUploadCheckItem"]["properties"]["checksum"].update(format="uuid"),
        lambda s: s["AssetBulkUploadCheckDto"]["properties"]["assets"].update(maxItems=2),
        lambda s: s["AssetBulkUploadCheckDto"].update(additionalProperties=False),
    ],
)
def test_a_spec_with_other_constraints_gets_no_shortcut(change):
    doc = copy.deepcopy(load_spec(3).doc)
    change(doc["components"]["schemas"])
    spec = Spec(doc)
    assert spec._fast_body_checks == {}
    # ... and validates what the changed schema says, e.g. these all break one of them:
    body = {"assets": [{"id": "", "checksum": SHA, "x": 1}, _ok(), _ok()], "y": 2}
    assert spec.validate_json_body(_op(spec), body) != []


def test_descriptions_do_not_matter():
    doc = copy.deepcopy(load_spec(3).doc)
    item = doc["components"]["schemas"]["AssetBulkUploadCheckItem"]
    item["description"] = "changed"
    item["properties"]["id"]["description"] = "changed too"
    assert DTO in Spec(doc)._fast_body_checks


_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=3),
    lambda inner: st.lists(inner, max_size=3)
    | st.dictionaries(st.sampled_from(["id", "checksum", "x"]), inner, max_size=3),
    max_leaves=8,
)
_item = st.one_of(
    st.fixed_dictionaries({"id": st.text(max_size=3), "checksum": st.text(max_size=3)}),
    st.dictionaries(st.sampled_from(["id", "checksum", "x"]), _json, max_size=3),
    _json,
)
_body = st.one_of(
    st.fixed_dictionaries({"assets": st.lists(_item, max_size=4)}),
    st.dictionaries(st.sampled_from(["assets", "asset", "x"]), st.lists(_item, max_size=3) | _json,
                    max_size=2),
    _json,
)


@settings(max_examples=300, deadline=None)
@given(_body)
def test_any_body_gives_the_same_issues(body):
    for major in (2, 3):
        spec = load_spec(major)
        op = _op(spec)
        reference = spec.validate_value(op.body_schema("application/json"), body)
        if FAST_BODY_CHECKS["AssetBulkUploadCheckDto"].accepts(body):
            assert reference == []
        assert spec.validate_json_body(op, body) == reference


# --------------------------------------------------------------- over HTTP

INVALID_HTTP = [body for body, _, valid in BODIES if not valid and body is not None]


def _expected(srv: Any, body: Any) -> tuple[Any, list[str]]:
    """The 400 message/errors and violations built from plain jsonschema issues."""
    spec = load_spec(2 if srv.version.startswith("2.") else 3)
    issues = spec.validate_value(_op(spec).body_schema("application/json"), body)
    assert issues
    violations = [f"POST /api{PATH}: {i.text()}" for i in issues]
    if spec.version.startswith("2."):
        return [i.v2_message() for i in issues], violations
    return [i.v3_dict() for i in issues], violations


@pytest.mark.parametrize("body", INVALID_HTTP)
async def test_invalid_bodies_get_the_jsonschema_400_v3(api, srv, body):
    errors, violations = _expected(srv, body)
    status, answer, _ = await api.call("POST", PATH, json=body)
    assert status == 400
    assert (answer["message"], answer["statusCode"]) == ("Validation failed", 400)
    assert answer["errors"] == errors
    assert srv.state.violations == violations


@pytest.mark.parametrize("body", INVALID_HTTP)
async def test_invalid_bodies_get_the_jsonschema_400_v2(api2, srv2, body):
    message, violations = _expected(srv2, body)
    status, answer, _ = await api2.call("POST", PATH, json=body)
    assert (status, answer["statusCode"]) == (400, 400)
    assert answer["message"] == message
    assert srv2.state.violations == violations


async def test_valid_bodies_with_extra_keys_are_still_accepted(api, srv):
    dup = srv.state.seed_asset(srv.user.id, b"dup", "a.jpg")
    body = {"assets": [{"id": "a", "checksum": dup.checksum_hex, "extra": 1}, _ok(1)],
            "more": True}
    status, answer, _ = await api.call("POST", PATH, json=body)
    assert status == 200
    assert [r["action"] for r in answer["results"]] == ["reject", "accept"]
    assert srv.state.violations == []


async def test_fast_path_answers_like_before(api, srv):
    dup = srv.state.seed_asset(srv.user.id, b"dup", "a.jpg")
    items = [_ok(i) for i in range(3000)] + [{"id": "dup", "checksum": dup.checksum_hex}]
    status, answer, _ = await api.call("POST", PATH, json={"assets": items})
    assert status == 200
    api.check_response("POST", PATH, status, answer)
    assert len(answer["results"]) == 3001
    assert all(r == {"id": f"IMG_{i}.jpg", "action": "accept"}
               for i, r in enumerate(answer["results"][:3000]))
    assert answer["results"][-1]["assetId"] == dup.id
    assert srv.state.violations == []
