"""Shared fixtures of the black-box server tests: where the servers are, clients for them,
and the checks every error response gets.

The servers are started by crates/herd/tests/it/serve.rs (`cargo test --release -p herd
--test it serve`), which sets:

    HERD_URL            the main server (default model, --api-key HERD_API_KEY)
    HERD_API_KEY        its key
    HERD_URL_KEY        a server that requires HERD_API_KEY (the main one)
    HERD_URL_SMALLCTX   a server started with --ctx 256 (no key)
    HERD_URL_TINYQUEUE  a server started with --parallel 1 --queue 1 (no key)

To run them by hand, start `herd serve` that way and set the same variables.
"""

import os

import httpx2 as httpx
import openai
import pytest

# Generous per-request limit: a stuck server fails the test instead of hanging it.
TIMEOUT = 60.0


def env_url(name):
    v = os.environ.get(name, "").strip()
    if not v:
        pytest.fail(
            f"{name} is not set: run these tests through `cargo test --release -p herd --test it serve` "
            "(crates/herd/tests/it/serve.rs starts the servers), or start `herd serve` and set it "
            "(see scripts/server-tests/conftest.py)",
            pytrace=False,
        )
    return v.rstrip("/")


def make_client(url, key=None, **kw):
    # No retries: a 429 or 5xx must reach the test, not be retried away.
    return openai.OpenAI(base_url=url + "/v1", api_key=key or "no-key", max_retries=0, timeout=TIMEOUT, **kw)


def make_http(url, key=None):
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    return httpx.Client(base_url=url, headers=headers, timeout=TIMEOUT)


def assert_envelope(body, status=None):
    """OpenAI's error envelope: {"error": {"message", "type", "param", "code"}}."""
    assert isinstance(body, dict) and set(body) == {"error"}, body
    e = body["error"]
    assert {"message", "type", "param", "code"} <= set(e), e
    assert isinstance(e["message"], str) and e["message"], e
    assert isinstance(e["type"], str) and e["type"], e
    assert e["param"] is None or isinstance(e["param"], str), e
    assert e["code"] is None or isinstance(e["code"], str), e
    return e


def api_error(exc_info, status):
    """The envelope of an openai.APIStatusError, after checking its status."""
    err = exc_info.value
    assert err.status_code == status, f"status {err.status_code}, expected {status}: {err}"
    return assert_envelope(err.response.json())


@pytest.fixture(scope="session")
def url():
    return env_url("HERD_URL")


@pytest.fixture(scope="session")
def key():
    return os.environ.get("HERD_API_KEY") or None


@pytest.fixture(scope="session")
def client(url, key):
    with make_client(url, key) as c:
        yield c


@pytest.fixture(scope="session")
def http(url, key):
    with make_http(url, key) as h:
        yield h


@pytest.fixture(scope="session")
def model(client):
    models = client.models.list().data
    assert len(models) == 1, models
    return models[0].id


def metrics(http):
    """GET /metrics parsed into {name: value} for the unlabelled samples."""
    r = http.get("/metrics")
    assert r.status_code == 200, r.text
    out = {}
    for line in r.text.splitlines():
        if line and not line.startswith("#") and "{" not in line:
            name, value = line.rsplit(" ", 1)
            out[name] = float(value)
    return out
