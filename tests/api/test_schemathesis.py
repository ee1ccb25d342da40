"""schemathesis against a running daemon: generated requests for every operation of the OpenAPI
document, and not one server error or answer the document does not describe.

The daemon listens on loopback (``start_daemon``: assembled in this process, with the fake
runtime); schemathesis runs as its own program against it, as an operator would run it. The
path parameters org/project/app/env name an env that exists, with config, a secret bundle and
a converged release, so the generated requests reach the code behind each route instead of
stopping at "no such org". Besides server errors and schema violations it checks that the
document's constraints and security are true and that every Allow header is. Bounded: a fixed
seed, at most ``MAX_EXAMPLES`` cases per operation (about three thousand requests in all) and
the examples, coverage and fuzzing phases.
"""

from __future__ import annotations

import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from api_support import deploy, satisfy_gate, start_daemon, stop_daemon, wait_converged

pytestmark = pytest.mark.slow

MAX_EXAMPLES = 15
MAX_REQUESTS = 5000
# Besides server errors and answers the document does not describe: that its constraints are
# true (what it calls invalid is refused), that a route documented as needing a token refuses a
# request without one, and that 405 and OPTIONS answers name the path's methods in Allow.
CHECKS = ("not_a_server_error,status_code_conformance,content_type_conformance,"
          "response_headers_conformance,response_schema_conformance,negative_data_rejection,"
          "missing_required_header,ignored_auth,unsupported_method,allow_header_conformance")
SCHEMATHESIS = str(Path(sys.executable).parent / "schemathesis")


@pytest.fixture(scope="module")
def platd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    d = start_daemon(tmp_path_factory.mktemp("platd"))
    try:
        yield d
    finally:
        stop_daemon(d)


def test_schemathesis_finds_no_server_error_and_no_undocumented_answer(
        platd: Any, tmp_path: Path) -> None:
    target = platd.make_env("acme/shop/hello/prod")
    satisfy_gate(platd, target)
    status, body = deploy(platd, target)
    assert status == 201, body
    wait_converged(platd, target)
    config = tmp_path / "schemathesis.toml"
    config.write_text(
        f'headers = {{ Authorization = "Bearer {platd.token}" }}\n'
        "[parameters]\n"
        'org = "acme"\nproject = "shop"\napp = "hello"\nenv = "prod"\n'
    )
    done = subprocess.run(
        [SCHEMATHESIS, "--config-file", str(config), "run", f"{platd.url}/v1/openapi.json",
         "--checks", CHECKS, "--max-examples", str(MAX_EXAMPLES), "--seed", "20261202",
         "--phases", "examples,coverage,fuzzing", "--workers", "1",
         "--request-timeout", "30", "--no-color"],
        capture_output=True, text=True, timeout=600, cwd=tmp_path,
    )
    said = done.stdout + done.stderr
    print(said[-4000:])  # the summary, in the test's output: cases, phases, warnings
    assert done.returncode == 0, said[-12000:]
    generated = re.search(r"(\d+) generated", said)
    assert generated, said[-3000:]
    assert 500 <= int(generated.group(1)) <= MAX_REQUESTS, said[-3000:]
    tested = re.search(r"Tested: (\d+)", said)
    assert tested, said[-3000:]
    assert int(tested.group(1)) >= 50, said[-3000:]  # every operation, not a few
    assert "Traceback" not in platd.log()


def test_the_document_describes_every_route_it_serves(platd: Any) -> None:
    status, doc = platd.api("GET", "/v1/openapi.json")
    assert status == 200
    placeholder = re.compile(r"{([^}]+)}")
    for path, item in doc["paths"].items():
        for method, op in item.items():
            if method not in ("get", "post", "put", "patch", "delete"):
                continue
            named = {p["name"] for p in op.get("parameters", []) if p["in"] == "path"}
            assert set(placeholder.findall(path)) <= named, (method, path)
            if path == "/v1/device/token":  # RFC 8628's errors are OAuth's 400s
                assert "authorization_pending" in op["responses"]["400"]["description"]
            else:  # platd answers an invalid request 422, never Litestar's 400
                assert "400" not in op["responses"], (method, path)
            if path.startswith("/v1/envs/"):
                assert {"401", "403", "404", "422"} <= set(op["responses"]), (method, path)
                assert op["responses"]["404"]["content"]["application/json"]["schema"] == {
                    "$ref": "#/components/schemas/Error"}
    assert doc["components"]["securitySchemes"]["bearer"]["scheme"] == "bearer"
    assert doc["paths"]["/v1/health"]["get"]["security"] == []
    events = doc["paths"]["/v1/envs/{org}/{project}/{app}/{env}/events"]["get"]["parameters"]
    after = next(p for p in events if p["name"] == "after")
    assert after["schema"]["maximum"] == 2**63 - 1
    # Litestar's own copy says the same
    status, litestar_copy = platd.api("GET", "/v1/schema/openapi.json")
    assert status == 200
    assert litestar_copy == doc
