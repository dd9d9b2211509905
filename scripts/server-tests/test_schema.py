"""`herd serve` against its own OpenAPI document: schemathesis generates requests from
GET /openapi.json (the document's examples, boundary values of every field, valid and
invalid bodies, random ones) and checks every answer: no 5xx, a documented status, a
documented content type, and a body that matches the documented schema (for a stream,
every server-sent event and its JSON payload).

The run is reproducible (deterministic generation) and bounded: a fixed
number of examples per operation, and schemathesis_hooks.py caps what one generated
request may ask of the model (one token, two choices, two prompts) while keeping every
value as valid or invalid as it was; the document's examples run as written. It runs
against the main server (HERD_URL, with HERD_API_KEY); see conftest.py for the servers.
HERD_OPENAPI=PATH tests a local copy of the document instead of the served one (to try
an edit without rebuilding herd).
"""

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import httpx2 as httpx
import pytest

from conftest import env_url

HERE = Path(__file__).resolve().parent
HOOKS = HERE / "schemathesis_hooks.py"
CHECKS = "not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance"
MAX_EXAMPLES = 15
# One request at a time: a reproducible order, and the timings stay comparable.
WORKERS = 1
REQUEST_TIMEOUT_S = 60
# The whole run: about 30 s on two quiet cores, 80 s on two busy ones.
RUN_TIMEOUT_S = 200
OUTPUT_TAIL = 20000


def operations(doc):
    methods = {"get", "put", "post", "delete", "patch", "head", "options", "trace"}
    return [(m.upper(), p) for p, item in doc.get("paths", {}).items() for m in item if m in methods]


def test_server_conforms_to_its_openapi_document(tmp_path):
    try:
        import schemathesis  # noqa: F401
    except ImportError:
        pytest.fail(
            "schemathesis is not installed in this venv: run scripts/setup-test-data.sh "
            "(it installs scripts/server-tests/requirements.txt)",
            pytrace=False,
        )
    url, key = env_url("HERD_URL"), os.environ.get("HERD_API_KEY") or None
    local = os.environ.get("HERD_OPENAPI", "").strip()
    if local:
        location = str(Path(local).resolve())
        doc = json.loads(Path(location).read_text())
    else:
        location = url + "/openapi.json"
        r = httpx.get(location, timeout=30)
        assert r.status_code == 200, r.text
        doc = r.json()
    ops = operations(doc)
    if len(ops) < 10:
        pytest.fail(f"{location} describes only {ops}: is herd built from this checkout?", pytrace=False)

    cmd = [sys.executable, "-m", "schemathesis.cli", "--no-color", "run", location, "--url", url]
    cmd += ["--checks", CHECKS, "--max-examples", str(MAX_EXAMPLES)]
    # Deterministic generation: the same requests on every run (no seed, no example database).
    cmd += ["--generation-deterministic"]
    cmd += ["--workers", str(WORKERS), "--request-timeout", str(REQUEST_TIMEOUT_S)]
    # Slow data generation on a busy machine is not the server's fault.
    cmd += ["--suppress-health-check", "too_slow"]
    if key:
        cmd += ["--header", f"Authorization: Bearer {key}"]
    env = {**os.environ, "SCHEMATHESIS_HOOKS": str(HOOKS), "NO_COLOR": "1", "COLUMNS": "120"}
    try:
        # In a scratch directory: nothing (reports, caches) lands in the checkout.
        p = subprocess.run(
            cmd, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=RUN_TIMEOUT_S, check=False
        )
    except subprocess.TimeoutExpired as e:
        out = e.stdout.decode(errors="replace") if isinstance(e.stdout, bytes) else (e.stdout or "")
        pytest.fail(f"schemathesis did not finish in {RUN_TIMEOUT_S} s:\n{out[-OUTPUT_TAIL:]}", pytrace=False)
    out = p.stdout + p.stderr
    if p.returncode != 0:
        pytest.fail(f"schemathesis exited with {p.returncode}:\n{out[-OUTPUT_TAIL:]}", pytrace=False)
    tested = re.search(r"Tested:\s+(\d+)", out)
    if not tested or int(tested.group(1)) != len(ops):
        pytest.fail(f"not all {len(ops)} operations were tested:\n{out[-OUTPUT_TAIL:]}", pytrace=False)
    print(out[-OUTPUT_TAIL:])
