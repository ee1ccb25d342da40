"""The OpenAPI document as the API really behaves: what Litestar generates, completed.

Litestar describes each handler from its signature, which leaves out what happens around it:
the error answers (``platd.api.errors`` turns every refusal into ``{"error": {...}}`` with 401,
403, 404, 409, 413 or 422, never Litestar's own 400 body), the bearer token, the path
parameters a handler does not name (the env of an immutable release it refuses to change), and
the rules names follow. ``complete`` adds them to the generated document, so a client or a
fuzzer (schemathesis, in ``tests/api/test_schemathesis.py``) can trust every status and shape
it reads there. Pure dict work on the generated document.
"""

from __future__ import annotations

import copy
import re
from typing import Any

from platd.spec.errors import EXIT_CODES
from platd.spec.input_limits import MAX_BODY

_METHODS = ("get", "put", "post", "patch", "delete")
_PLACEHOLDER_RE = re.compile(r"{([^}:]+)(?::[^}]+)?}")
# Path parameters that are names of things: the rule of ``platd.spec.names.NAME_RE``.
_NAMED = {"org", "project", "app", "env", "name", "workload"}
_NAME_SCHEMA = {"type": "string", "pattern": r"^[a-z][a-z0-9-]{0,38}[a-z0-9]$|^[a-z]$"}
# Routes that take no user token: liveness, the document, the device flow's two OAuth
# endpoints (RFC 8628: a device asks for a code before anyone has a token), and what peers and
# joining hosts call with their own proofs (every /v1/peer/ route; ``docs/cluster.md``).
_PUBLIC = {"/v1/health", "/v1/tls/ca", "/v1/openapi.json", "/v1/device/code", "/v1/device/token"}

ERROR_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["error"],
    "additionalProperties": False,
    "properties": {"error": {
        "type": "object",
        "required": ["code", "message", "hint", "details"],
        "additionalProperties": False,
        "properties": {
            "code": {"type": "string", "description": "what kind of error; see exit codes"},
            "message": {"type": "string"},
            "hint": {"type": "array", "items": {"type": "string"}},
            "details": {"type": "object"},
        },
    }},
    "description": "Every refusal, in one shape. Exit codes of the CLI per kind: "
    + "; ".join(f"{code} {text}" for code, text in EXIT_CODES.items()),
}

_WHY = {
    "401": "no token, or a token that is not valid (code unauthenticated)",
    "403": "the token's role may not do this (code forbidden)",
    "404": "no such org, project, app, env or named resource (code not_found)",
    "409": "the name is taken, or the current state forbids the change (codes conflict, "
           "config_gate)",
    "413": f"the request body is larger than {MAX_BODY // 1024} KiB (512 MiB for a build)",
    "422": "a value, name, body, query or manifest is not valid (codes invalid_input, "
           "manifest_invalid, image)",
    "412": "the env moved since the release the deploy's If-Match names (code superseded)",
    "507": "the host's data disk is full: a change that adds data was refused (code "
           "storage_full); reads, scaling and deletes still work",
}

# RFC 8628 §3.5: the device flow's token endpoint answers in OAuth's error form, status 400.
OAUTH_ERROR = {
    "description": "authorization_pending, slow_down, access_denied, expired_token or "
                   "invalid_grant, in OAuth's form (RFC 8628, 3.5)",
    "content": {"application/json": {"schema": {
        "type": "object", "required": ["error"],
        "properties": {"error": {"type": "string"}, "error_description": {"type": "string"}},
    }}},
}


def complete(document: dict[str, Any]) -> dict[str, Any]:
    """A copy of Litestar's ``document`` that says what the API does (see the module doc)."""
    doc = copy.deepcopy(document)
    components = doc.setdefault("components", {})
    components.setdefault("schemas", {})["Error"] = ERROR_SCHEMA
    components["securitySchemes"] = {
        "bearer": {"type": "http", "scheme": "bearer",
                   "description": "a plat token (plat_...), from platd init or plat login"},
    }
    doc["security"] = [{"bearer": []}]
    for path, item in doc.get("paths", {}).items():
        for method in _METHODS:
            operation = item.get(method)
            if operation is not None:
                _complete_operation(path, method, operation)
    return doc


def _complete_operation(path: str, method: str, operation: dict[str, Any]) -> None:
    params = operation.setdefault("parameters", [])
    named = {p["name"] for p in params if p.get("in") == "path"}
    for placeholder in _PLACEHOLDER_RE.findall(path):
        if placeholder not in named:
            params.append({"name": placeholder, "in": "path", "required": True,
                           "schema": {"type": "string"}})
    for param in params:
        if param.get("in") == "path" and param["name"] in _NAMED:
            param["schema"] = {**param.get("schema", {}), **_NAME_SCHEMA}
    public = path in _PUBLIC or path.startswith("/v1/peer/")
    if public:
        operation["security"] = []
    responses = operation.setdefault("responses", {})
    responses.pop("400", None)  # platd answers every invalid request 422 in the error shape
    codes = set()
    if not public or path.startswith("/v1/peer/"):
        codes |= {"401", "403"}
    if operation.get("parameters") or path.startswith(("/v1/envs/", "/v1/peer/")):
        codes.add("404")  # a named thing, or one a query filters by (GET /v1/tokens?org=)
    if path.startswith(("/v1/peer/", "/v1/hosts")):
        codes.add("409")  # cluster routes on a host that is not in a cluster
    if operation.get("parameters") or "requestBody" in operation or method != "get":
        codes.add("422")
    if method != "get":
        codes |= {"409", "413", "507"}
    if path.endswith("/deploy"):
        codes.add("412")
    if path == "/v1/device/token":
        responses["400"] = OAUTH_ERROR
    if path in ("/v1/health", "/v1/openapi.json"):
        codes = set()
    if path == "/v1/tls/ca":
        codes = {"404"}  # a data dir made before platd had a CA
    for code in sorted(codes):
        responses.setdefault(code, {
            "description": _WHY[code],
            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
        })
