"""The official Immich OpenAPI specs, turned into request validators.

The stand-in is only useful if it is *stricter* than a lenient mock: a client that passes
its tests against the stand-in must also work against a real server. So every request is
checked against the vendored spec of the emulated version: the operation must exist, path
and query parameters must fit their schemas, JSON bodies must validate against the
operation's ``requestBody`` schema and the multipart upload body against
``AssetMediaCreateDto`` (with the multipart string-to-type rules the real server applies).

OpenAPI 3.0 schemas are not quite JSON Schema: ``nullable: true`` is turned into a type
union here, and ``$ref``s into ``#/components/schemas`` are resolved by embedding the
components in every root schema handed to :mod:`jsonschema`.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import jsonschema

SPEC_DIR = Path(__file__).resolve().parent / "openapi"
SPEC_FILES = {
    2: SPEC_DIR / "immich-openapi-specs-v2.7.0.json",
    3: SPEC_DIR / "immich-openapi-specs-v3.1.0.json",
}
HTTP_METHODS = ("get", "put", "post", "delete", "patch", "head", "options")

# RFC 3339 date-time: a date, a time and *always* an offset ("Z" or "+hh:mm").
DATE_TIME_RE = re.compile(
    r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:\d{2})$"
)
UUID_RE = re.compile(
    r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$"
)

FORMAT_CHECKER = jsonschema.FormatChecker()


@FORMAT_CHECKER.checks("date-time")
def _is_date_time(value: object) -> bool:
    """Accept only date-times with an explicit offset, as the real server does."""
    return not isinstance(value, str) or bool(DATE_TIME_RE.match(value))


@FORMAT_CHECKER.checks("uuid")
def _is_uuid(value: object) -> bool:
    return not isinstance(value, str) or bool(UUID_RE.match(value))


def spec_major_for(version: str) -> int:
    """Which spec a server version behaves like: v2 for 2.x, v3 for everything else.

    Unsupported versions (``1.106.0``, ``4.0.0``) report their own number from
    ``/server/version`` but otherwise behave like v3, so that a client's version gate is
    what gets tested.
    """
    major = parse_version(version)[0]
    return 2 if major == 2 else 3


def parse_version(version: str) -> tuple[int, int, int]:
    """Parse ``"3.1.0"`` (or ``"v3.1.0"``) into integers."""
    parts = version.lstrip("v").split("-")[0].split(".")
    nums = [int(p) for p in parts[:3]] + [0] * (3 - len(parts[:3]))
    return nums[0], nums[1], nums[2]


@dataclass(frozen=True)
class Issue:
    """One validation failure, rendered in the style of either server generation."""

    path: tuple[str | int, ...]
    code: str
    message: str

    def text(self) -> str:
        where = ".".join(str(p) for p in self.path) or "(body)"
        return f"{where}: {self.message}"

    def v2_message(self) -> str:
        where = ".".join(str(p) for p in self.path)
        return f"{where} {self.message}".strip()

    def v3_dict(self) -> dict[str, Any]:
        return {"code": self.code, "path": list(self.path), "message": self.message}


@dataclass
class Operation:
    """A spec operation (method + templated path) with what validation needs."""

    method: str
    template: str
    regex: re.Pattern[str]
    param_names: list[str]
    raw: dict[str, Any]
    parameters: list[dict[str, Any]] = field(default_factory=list)

    @property
    def permission(self) -> str | None:
        return self.raw.get("x-immich-permission")

    @property
    def admin_only(self) -> bool:
        return bool(self.raw.get("x-immich-admin-only"))

    @property
    def needs_auth(self) -> bool:
        return bool(self.raw.get("security"))

    def body_schema(self, content_type: str) -> dict[str, Any] | None:
        content = (self.raw.get("requestBody") or {}).get("content") or {}
        media = content.get(content_type)
        return None if media is None else media.get("schema")

    @property
    def body_required(self) -> bool:
        return bool((self.raw.get("requestBody") or {}).get("required"))

    @property
    def body_content_types(self) -> list[str]:
        return list(((self.raw.get("requestBody") or {}).get("content") or {}).keys())


def _nullable_to_union(node: Any) -> Any:
    """Rewrite OpenAPI 3.0 ``nullable: true`` into JSON Schema unions, recursively."""
    if isinstance(node, list):
        return [_nullable_to_union(x) for x in node]
    if not isinstance(node, dict):
        return node
    out = {k: _nullable_to_union(v) for k, v in node.items()}
    if out.pop("nullable", False):
        if isinstance(out.get("type"), str):
            out["type"] = [out["type"], "null"]
            if "enum" in out:
                out["enum"] = [*out["enum"], None]
            # A pattern or format applies to strings only; null passes them anyway.
        else:
            return {"anyOf": [out, {"type": "null"}]}
    return out


class Spec:
    """One loaded spec version, with path matching and validators."""

    def __init__(self, doc: dict[str, Any]) -> None:
        self.doc = doc
        self.version: str = doc["info"]["version"]
        self.components = _nullable_to_union(doc.get("components", {}))
        self.schemas: dict[str, Any] = self.components.get("schemas", {})
        self.operations: list[Operation] = []
        self._validators: dict[str, jsonschema.Draft202012Validator] = {}
        # Body ``$ref`` -> shortcut, for the schemas that still read as the check expects.
        self._fast_body_checks: dict[str, Callable[[Any], bool]] = {
            f"#/components/schemas/{name}": fast.accepts
            for name, fast in FAST_BODY_CHECKS.items()
            if fast.fits(self.schemas)
        }
        for template, item in doc["paths"].items():
            shared = item.get("parameters", [])
            names = re.findall(r"{([^}]+)}", template)
            pattern = "^" + re.sub(r"\\{[^}]+\\}", r"([^/]+)", re.escape(template)) + "$"
            for method, op in item.items():
                if method not in HTTP_METHODS:
                    continue
                self.operations.append(
                    Operation(
                        method=method.upper(),
                        template=template,
                        regex=re.compile(pattern),
                        param_names=names,
                        raw=op,
                        parameters=[*shared, *op.get("parameters", [])],
                    )
                )
        # Literal paths win over templated ones (/albums/assets before /albums/{id}).
        self.operations.sort(key=lambda o: (len(o.param_names), o.template))

    # ----------------------------------------------------------------- routing
    def match(self, method: str, path: str) -> tuple[Operation, dict[str, str]] | None:
        """Find the operation for ``path`` (relative to ``/api``) and its path parameters."""
        for op in self.operations:
            if op.method != method.upper():
                continue
            m = op.regex.match(path)
            if m:
                return op, dict(zip(op.param_names, m.groups(), strict=True))
        return None

    def path_known(self, path: str) -> bool:
        return any(op.regex.match(path) for op in self.operations)

    # -------------------------------------------------------------- validation
    def root_schema(self, schema: dict[str, Any]) -> dict[str, Any]:
        """Wrap ``schema`` so that ``#/components/...`` refs resolve against this spec."""
        return {**_nullable_to_union(schema), "components": self.components}

    def _inline(self, node: Any, stack: tuple[str, ...] = ()) -> Any:
        """Replace non-recursive ``$ref``s by their targets (validation is much faster)."""
        if isinstance(node, list):
            return [self._inline(x, stack) for x in node]
        if not isinstance(node, dict):
            return node
        ref = node.get("$ref")
        if isinstance(ref, str) and ref.startswith("#/components/schemas/"):
            name = ref.rsplit("/", 1)[-1]
            if name not in stack and name in self.schemas:
                target = self._inline(self.schemas[name], (*stack, name))
                rest = {k: self._inline(v, stack) for k, v in node.items() if k != "$ref"}
                return {"allOf": [target], **rest} if rest else target
        return {k: self._inline(v, stack) for k, v in node.items()}

    def validator(self, schema: dict[str, Any]) -> jsonschema.Draft202012Validator:
        key = json.dumps(schema, sort_keys=True)
        found = self._validators.get(key)
        if found is None:
            root = self.root_schema(self._inline(_nullable_to_union(schema)))
            found = jsonschema.Draft202012Validator(root, format_checker=FORMAT_CHECKER)
            self._validators[key] = found
        return found

    def validate_value(self, schema: dict[str, Any], value: Any) -> list[Issue]:
        """Validate a decoded JSON value; return issues (empty when valid)."""
        validator = self.validator(schema)
        issues = []
        for err in sorted(validator.iter_errors(value), key=lambda e: list(e.absolute_path)):
            issues.append(_issue_from_error(err))
        return issues

    def validate_params(
        self, op: Operation, path_params: dict[str, str], query: dict[str, str]
    ) -> list[Issue]:
        """Check path and query parameters, coercing the strings as the server would."""
        issues: list[Issue] = []
        for param in op.parameters:
            where = param.get("in")
            name = param["name"]
            source = path_params if where == "path" else query if where == "query" else None
            if source is None:
                continue
            if name not in source:
                if param.get("required"):
                    issues.append(Issue((name,), "invalid_type", "is required"))
                continue
            value, problem = coerce_string(self.resolve(param.get("schema", {})), source[name])
            if problem:
                issues.append(Issue((name,), "invalid_type", problem))
                continue
            for issue in self.validate_value(param.get("schema", {}), value):
                issues.append(Issue((name, *issue.path), issue.code, issue.message))
        return issues

    def validate_json_body(self, op: Operation, body: Any) -> list[Issue]:
        """Validate a JSON request body; see :data:`FAST_BODY_CHECKS` for the shortcut."""
        schema = op.body_schema("application/json")
        if schema is None:
            return []
        fast = self._fast_body_checks.get(schema.get("$ref", ""))
        if fast is not None and fast(body):
            return []
        return self.validate_value(schema, body)

    def validate_response(self, op: Operation, status: int, body: Any) -> list[Issue]:
        """Check a JSON answer against the documented response (used to test the stand-in)."""
        response = (op.raw.get("responses") or {}).get(str(status))
        if response is None:
            return [Issue((), "custom", f"status {status} not documented")]
        schema = ((response.get("content") or {}).get("application/json") or {}).get("schema")
        return [] if schema is None else self.validate_value(schema, body)

    def resolve(self, schema: dict[str, Any]) -> dict[str, Any]:
        """Follow ``$ref`` (and single-element ``allOf``) to the concrete schema."""
        seen = 0
        while seen < 20:
            seen += 1
            if "$ref" in schema:
                name = schema["$ref"].rsplit("/", 1)[-1]
                schema = {**self.schemas[name], **{k: v for k, v in schema.items() if k != "$ref"}}
            elif "allOf" in schema and len(schema["allOf"]) == 1:
                inner = schema["allOf"][0]
                rest = {k: v for k, v in schema.items() if k != "allOf"}
                schema = {**rest, **inner}
            else:
                break
        return schema

    def validate_multipart(
        self, op: Operation, fields: dict[str, str], file_fields: set[str]
    ) -> tuple[list[Issue], list[str]]:
        """Validate an upload's multipart fields against the operation's schema.

        ``fields`` are the text parts (name to value), ``file_fields`` the names of parts
        that came as files. Returns ``(issues, unknown_field_names)``.
        """
        schema = self.resolve(op.body_schema("multipart/form-data") or {})
        props: dict[str, Any] = schema.get("properties", {})
        issues: list[Issue] = []
        unknown = sorted((set(fields) | file_fields) - set(props))
        for name in schema.get("required", []):
            if name not in fields and name not in file_fields:
                issues.append(Issue((name,), "invalid_type", "is required"))
        for name, prop_schema in props.items():
            prop = self.resolve(prop_schema)
            binary = prop.get("format") == "binary"
            if binary:
                if name in fields:
                    issues.append(Issue((name,), "invalid_type", "must be a file part"))
                continue
            if name in file_fields:
                issues.append(Issue((name,), "invalid_type", "must be a text field, not a file"))
                continue
            if name not in fields:
                continue
            value, problem = coerce_string(prop, fields[name])
            if problem:
                issues.append(Issue((name,), "invalid_type", problem))
                continue
            for issue in self.validate_value(prop_schema, value):
                issues.append(Issue((name, *issue.path), issue.code, issue.message))
        return issues, unknown


def coerce_string(schema: dict[str, Any], raw: str) -> tuple[Any, str | None]:
    """Turn a multipart/query string into the JSON type ``schema`` wants.

    Returns ``(value, problem)``; booleans must be exactly ``true``/``false``, integers
    plain decimal digits, arrays and objects JSON text.
    """
    kind = schema.get("type")
    if isinstance(kind, list):
        kind = next((k for k in kind if k != "null"), None)
    if kind == "boolean":
        if raw in ("true", "false"):
            return raw == "true", None
        return None, f"must be a boolean value ('true' or 'false'), got {raw!r}"
    if kind == "integer":
        if re.fullmatch(r"-?\d+", raw):
            return int(raw), None
        return None, f"must be an integer, got {raw!r}"
    if kind == "number":
        try:
            return float(raw), None
        except ValueError:
            return None, f"must be a number, got {raw!r}"
    if kind in ("array", "object"):
        try:
            return json.loads(raw), None
        except ValueError:
            return None, f"must be JSON ({kind}), got {raw[:60]!r}"
    return raw, None


# ------------------------------------------------------------ fast body checks
_ANNOTATIONS = frozenset({"description", "title", "example", "examples", "deprecated"})


def _constraints(node: Any) -> Any:
    """A schema without its annotations: only what decides valid or invalid remains."""
    if isinstance(node, list):
        return [_constraints(x) for x in node]
    if not isinstance(node, dict):
        return node
    out: dict[str, Any] = {}
    for key, value in node.items():
        if key in _ANNOTATIONS or key.startswith("x-"):
            continue
        if key in ("properties", "patternProperties", "$defs"):
            # A mapping of names to schemas: the names are data, not keywords.
            out[key] = {name: _constraints(sub) for name, sub in value.items()}
        else:
            out[key] = _constraints(value)
    return out


@dataclass(frozen=True)
class FastBodyCheck:
    """A hand-written test for the common *valid* shape of one request body schema.

    ``accepts(body)`` returning true must imply that jsonschema finds no issue; returning
    false means only "not sure": the full validation then runs and produces the issues.
    ``schemas`` holds the component schemas (annotations stripped) the test was written
    against; a spec whose schemas differ in any constraint does not get the shortcut.
    """

    schemas: dict[str, Any]
    accepts: Callable[[Any], bool]

    def fits(self, components: dict[str, Any]) -> bool:
        return all(
            name in components and _constraints(components[name]) == expected
            for name, expected in self.schemas.items()
        )


def _is_plain_bulk_upload_check(body: Any) -> bool:
    """``{"assets": [{"id": str, "checksum": str}, ...]}`` and nothing else.

    Exact ``type() is`` tests: ``json.loads`` builds exact dicts, lists and strs, and a
    subclass merely takes the slow path. Extra keys are allowed by the schema (there is no
    ``additionalProperties: false``), but they are rare, so they take the slow path too.
    """
    if type(body) is not dict or len(body) != 1:
        return False
    assets = body.get("assets")
    if type(assets) is not list:
        return False
    for item in assets:
        if (type(item) is not dict or len(item) != 2
                or type(item.get("id")) is not str or type(item.get("checksum")) is not str):
            return False
    return True


FAST_BODY_CHECKS: dict[str, FastBodyCheck] = {
    # ``POST /assets/bulk-upload-check`` carries thousands of items per request (the CLI
    # batches 5000) and jsonschema costs ~20 us per item, which made the stand-in, not the
    # client, the bottleneck of a large dedupe pass. The direct check costs ~0.1 us/item.
    "AssetBulkUploadCheckDto": FastBodyCheck(
        schemas={
            "AssetBulkUploadCheckDto": {
                "type": "object",
                "required": ["assets"],
                "properties": {
                    "assets": {
                        "type": "array",
                        "items": {"$ref": "#/components/schemas/AssetBulkUploadCheckItem"},
                    },
                },
            },
            "AssetBulkUploadCheckItem": {
                "type": "object",
                "required": ["checksum", "id"],
                "properties": {"checksum": {"type": "string"}, "id": {"type": "string"}},
            },
        },
        accepts=_is_plain_bulk_upload_check,
    ),
}
"""Shortcuts for hot request bodies, by component schema name (see :class:`FastBodyCheck`).

Validating with jsonschema stays the reference: a shortcut only ever says "valid" for
bodies the schema accepts, and anything it is not sure about goes through the full
validation, so the 400 answers and the recorded violations are exactly the same.
"""


_CODES = {
    "required": "invalid_type",
    "type": "invalid_type",
    "pattern": "invalid_format",
    "format": "invalid_format",
    "enum": "invalid_value",
    "minimum": "too_small",
    "minItems": "too_small",
    "minLength": "too_small",
    "maximum": "too_big",
    "maxItems": "too_big",
    "maxLength": "too_big",
    "additionalProperties": "unrecognized_keys",
}


def _issue_from_error(err: jsonschema.ValidationError) -> Issue:
    path: tuple[str | int, ...] = tuple(err.absolute_path)
    message = err.message
    if err.validator == "required":
        # "'x' is a required property": put the missing name into the path.
        m = re.match(r"'([^']+)' is a required property", err.message)
        if m:
            path = (*path, m.group(1))
            message = "is required"
    elif err.validator in ("pattern", "format"):
        fmt = err.validator_value if err.validator == "format" else None
        fmt = fmt or err.schema.get("format")
        if fmt == "date-time":
            message = f"invalid ISO 8601 date-time with offset (Z or ±hh:mm): {err.instance!r}"
        elif fmt == "uuid":
            message = f"Invalid UUID: {err.instance!r}"
    return Issue(path, _CODES.get(str(err.validator), "custom"), message)


@lru_cache(maxsize=4)
def load_spec(major: int) -> Spec:
    """Load (once) the vendored spec for a major version (2 or 3)."""
    with open(SPEC_FILES[major], encoding="utf-8") as fh:
        return Spec(json.load(fh))


def spec_for_version(version: str) -> Spec:
    return load_spec(spec_major_for(version))
