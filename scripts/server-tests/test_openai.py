"""`herd serve` as an OpenAI-compatible server, driven by the official `openai` client
(raw HTTP through httpx2, the client's own HTTP library, only where the client cannot say
it: a malformed body, /health, /metrics, /tokenize). See conftest.py for the servers.
"""

import json
import math
import re
import threading

import jsonschema
import openai
import pytest

from conftest import api_error, assert_envelope, env_url, make_client, make_http, metrics

HELLO = [{"role": "user", "content": "Say hello in one short sentence."}]
COLORS = [{"role": "user", "content": "Name three colors."}]
POEM = [{"role": "user", "content": "Write a short poem about the sea."}]

WEATHER_TOOL = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Get the current weather in a city.",
        "parameters": {
            "type": "object",
            "properties": {"city": {"type": "string", "description": "The city's name", "maxLength": 40}},
            "required": ["city"],
            "additionalProperties": False,
        },
    },
}
WEATHER_QUESTION = [{"role": "user", "content": "What is the weather like in Paris today?"}]


def tokenize(http, text):
    r = http.post("/tokenize", json={"content": text})
    assert r.status_code == 200, r.text
    return r.json()["tokens"]


def warm(client, model, messages):
    """Puts `messages`' prompt in the server's prefix cache, so that the requests compared
    after this all start from the same cache state. A prompt's last rows computed together
    (cold) and alone (after a cache hit) differ in their last bits by design (llama.cpp's
    summation order for multi-row batches, see herd-llama's model.rs), which can flip a
    greedy choice between near-equal tokens."""
    client.chat.completions.create(model=model, messages=messages, max_tokens=1, temperature=0)


def check_usage(u):
    assert u.prompt_tokens > 0 and u.completion_tokens >= 0, u
    assert u.total_tokens == u.prompt_tokens + u.completion_tokens, u


# --- the small routes ------------------------------------------------------------------


def test_health_and_metrics(http):
    r = http.get("/health")
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "ok"
    m = metrics(http)
    for name in [
        "herd_kv_cache_usage_ratio",
        "herd_running_sequences",
        "herd_queue_depth",
        "herd_requests_total",
        "herd_time_to_first_token_seconds_count",
    ]:
        assert name in m, f"/metrics lacks {name}"
    assert m["herd_model_loaded"] == 1


def test_metrics_count_reused_prompt_tokens(client, model, http):
    # The same prompt twice: the second reuses the first's cached prefix, so the engine
    # computes fewer prompt tokens than the requests hold (vLLM's prefix-cache counters).
    msgs = [{"role": "user", "content": "Count the prompt tokens the engine computes: one, two, three."}]
    before = metrics(http)
    for _ in range(2):
        r = client.chat.completions.create(model=model, messages=msgs, max_tokens=2, temperature=0)
    after = metrics(http)
    delta = lambda name: after[name] - before[name]
    assert delta("herd_prompt_tokens_total") == 2 * r.usage.prompt_tokens
    assert 0 < delta("herd_prefill_tokens_total") < 2 * r.usage.prompt_tokens
    assert delta("herd_engine_steps_total") >= 2


def test_models_list_and_retrieve(client, model):
    m = client.models.retrieve(model)
    assert m.id == model and m.object == "model"
    with pytest.raises(openai.NotFoundError) as e:
        client.models.retrieve("no-such-model")
    err = api_error(e, 404)
    assert "no-such-model" in err["message"]


# --- chat ------------------------------------------------------------------------------


def test_chat_plain(client, model):
    r = client.chat.completions.create(model=model, messages=HELLO, max_tokens=32, temperature=0)
    assert r.object == "chat.completion" and r.id and r.model == model
    assert len(r.choices) == 1
    c = r.choices[0]
    assert c.index == 0 and c.message.role == "assistant"
    assert isinstance(c.message.content, str) and c.message.content.strip()
    assert c.finish_reason in ("stop", "length")
    assert not c.message.tool_calls
    check_usage(r.usage)


def test_chat_stream_equals_non_streamed(client, model):
    args = dict(model=model, messages=COLORS, max_tokens=24, temperature=0, seed=7)
    warm(client, model, COLORS)
    whole = client.chat.completions.create(**args)
    chunks = list(client.chat.completions.create(**args, stream=True, stream_options={"include_usage": True}))
    # The iteration above ended normally: the client saw `data: [DONE]`.
    assert chunks, "no chunks"
    assert chunks[0].choices[0].delta.role == "assistant"
    assert all(ch.id == chunks[0].id and ch.object == "chat.completion.chunk" for ch in chunks)
    *body, last = chunks
    # The usage chunk comes last, with no choices; the others carry no usage.
    assert last.choices == [] and last.usage is not None, last
    assert all(ch.usage is None for ch in body)
    assert all(len(ch.choices) == 1 and ch.choices[0].index == 0 for ch in body)
    text = "".join(ch.choices[0].delta.content or "" for ch in body)
    assert text == whole.choices[0].message.content
    finishes = [ch.choices[0].finish_reason for ch in body if ch.choices[0].finish_reason]
    assert finishes == [whole.choices[0].finish_reason], finishes
    assert body[-1].choices[0].finish_reason, "the finish reason is not on the last choice chunk"
    check_usage(last.usage)
    assert last.usage.prompt_tokens == whole.usage.prompt_tokens
    assert last.usage.completion_tokens == whole.usage.completion_tokens


def test_n_gives_two_choices(client, model):
    r = client.chat.completions.create(model=model, messages=POEM, n=2, max_tokens=16, temperature=1, seed=3)
    assert sorted(c.index for c in r.choices) == [0, 1]
    for c in r.choices:
        assert c.message.role == "assistant" and c.message.content
        assert c.finish_reason in ("stop", "length")
    check_usage(r.usage)


def test_logprobs_top3(client, model):
    r = client.chat.completions.create(
        model=model, messages=HELLO, max_tokens=16, temperature=0, logprobs=True, top_logprobs=3
    )
    c = r.choices[0]
    content = c.logprobs.content
    assert content, "no logprobs"
    for e in content:
        assert e.logprob <= 0
        assert len(e.top_logprobs) == 3, e
        tops = [t.logprob for t in e.top_logprobs]
        assert all(t <= 0 for t in tops) and tops == sorted(tops, reverse=True), tops
        # Greedy: the chosen token is the most likely one.
        assert e.token == e.top_logprobs[0].token and math.isclose(e.logprob, tops[0], abs_tol=1e-5), e
    # The entries' bytes spell the content.
    assert b"".join(bytes(e.bytes) for e in content).decode() == c.message.content


def test_seed_reproducible(client, model):
    def sample(seed):
        r = client.chat.completions.create(model=model, messages=POEM, max_tokens=20, temperature=1, seed=seed)
        return r.choices[0].message.content

    warm(client, model, POEM)
    first = sample(1234)
    assert sample(1234) == first, "the same seed gave two different texts"
    others = [sample(s) for s in (1, 2, 3, 4)]
    assert any(o != first for o in others), f"four other seeds all gave {first!r}"


def test_usage_counts_exact(client, http, model):
    # Completions: a raw prompt's token count is what /tokenize says.
    text = "The quick brown fox jumps over the lazy dog, and then"
    r = client.completions.create(model=model, prompt=text, max_tokens=4, temperature=0)
    assert r.usage.prompt_tokens == len(tokenize(http, text))
    check_usage(r.usage)
    # Chat: every generated token has a logprobs entry; the stop token is counted too.
    for max_tokens, expect in [(64, "stop"), (3, "length")]:
        r = client.chat.completions.create(
            model=model, messages=HELLO, max_tokens=max_tokens, temperature=0, logprobs=True
        )
        c = r.choices[0]
        assert c.finish_reason == expect, c
        n = len(c.logprobs.content)
        assert r.usage.completion_tokens == n + (1 if c.finish_reason == "stop" else 0), (r.usage, n)
        check_usage(r.usage)


# --- tools -----------------------------------------------------------------------------


def check_weather_call(name, arguments):
    assert name == "get_weather"
    args = json.loads(arguments)
    assert isinstance(args, dict) and set(args) == {"city"}, args
    assert isinstance(args["city"], str)


def test_tool_call_required(client, model):
    r = client.chat.completions.create(
        model=model, messages=WEATHER_QUESTION, tools=[WEATHER_TOOL], tool_choice="required",
        max_tokens=64, temperature=0,
    )
    c = r.choices[0]
    assert c.finish_reason == "tool_calls", c
    assert c.message.tool_calls and len(c.message.tool_calls) == 1, c.message
    call = c.message.tool_calls[0]
    assert call.type == "function" and call.id
    check_weather_call(call.function.name, call.function.arguments)


@pytest.mark.parametrize("choice", ["required", {"type": "function", "function": {"name": "get_weather"}}],
                         ids=["required", "named"])
def test_tool_call_streamed(client, model, choice):
    stream = client.chat.completions.create(
        model=model, messages=WEATHER_QUESTION, tools=[WEATHER_TOOL], tool_choice=choice,
        max_tokens=64, temperature=0, stream=True,
    )
    calls = {}
    finish = []
    for ch in stream:
        for choice in ch.choices:
            for tc in choice.delta.tool_calls or []:
                slot = calls.setdefault(tc.index, {"id": None, "name": "", "arguments": ""})
                slot["id"] = slot["id"] or tc.id
                if tc.function:
                    slot["name"] += tc.function.name or ""
                    slot["arguments"] += tc.function.arguments or ""
            if choice.finish_reason:
                finish.append(choice.finish_reason)
    assert finish == ["tool_calls"], finish
    assert list(calls) == [0], calls
    assert calls[0]["id"]
    check_weather_call(calls[0]["name"], calls[0]["arguments"])


def test_tool_result_round_trip(client, model):
    r = client.chat.completions.create(
        model=model, messages=WEATHER_QUESTION, tools=[WEATHER_TOOL], tool_choice="required",
        max_tokens=64, temperature=0,
    )
    call = r.choices[0].message.tool_calls[0]
    messages = WEATHER_QUESTION + [
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {"id": call.id, "type": "function",
                 "function": {"name": call.function.name, "arguments": call.function.arguments}}
            ],
        },
        {"role": "tool", "tool_call_id": call.id, "content": json.dumps({"temperature_c": 18, "sky": "sunny"})},
    ]
    final = client.chat.completions.create(model=model, messages=messages, tools=[WEATHER_TOOL], max_tokens=48, temperature=0)
    c = final.choices[0]
    assert c.finish_reason in ("stop", "length", "tool_calls"), c
    assert c.message.content or c.message.tool_calls, c.message
    check_usage(final.usage)
    assert final.usage.prompt_tokens > r.usage.prompt_tokens


# --- constrained output ----------------------------------------------------------------

PERSON_SCHEMA = {
    "type": "object",
    "properties": {
        "name": {"type": "string", "maxLength": 24},
        "age": {"type": "integer"},
        "color": {"enum": ["red", "green", "blue"]},
    },
    "required": ["name", "age", "color"],
    "additionalProperties": False,
}


def test_json_schema_output_validates(client, model):
    r = client.chat.completions.create(
        model=model,
        messages=[{"role": "user", "content": "Describe a person named Alice, aged 30, whose favourite color is green, as JSON."}],
        response_format={"type": "json_schema", "json_schema": {"name": "person", "schema": PERSON_SCHEMA, "strict": True}},
        max_tokens=96, temperature=0,
    )
    c = r.choices[0]
    assert c.finish_reason == "stop", c
    jsonschema.validate(json.loads(c.message.content), PERSON_SCHEMA)


def test_json_object_output_parses(client, model):
    r = client.chat.completions.create(
        model=model,
        messages=[{"role": "user", "content": 'What is the capital of France? Answer as JSON like {"capital": "..."}.'}],
        response_format={"type": "json_object"}, max_tokens=96, temperature=0,
    )
    c = r.choices[0]
    assert c.finish_reason == "stop", c
    assert isinstance(json.loads(c.message.content), dict)


# --- completions and embeddings --------------------------------------------------------


def test_completions_echo_logprobs_max_tokens_0(client, http, model):
    text = "The capital of France is"
    r = client.completions.create(model=model, prompt=text, max_tokens=0, echo=True, logprobs=2)
    assert r.object == "text_completion"
    c = r.choices[0]
    assert c.text == text
    ids = tokenize(http, text)
    lp = c.logprobs
    assert len(lp.tokens) == len(ids) == len(lp.token_logprobs) == len(lp.top_logprobs) == len(lp.text_offset)
    assert "".join(lp.tokens) == text
    assert lp.token_logprobs[0] is None  # nothing predicts the first token
    assert all(x <= 0 for x in lp.token_logprobs[1:])
    assert all(len(t) >= 1 for t in lp.top_logprobs[1:])
    assert lp.text_offset == sorted(lp.text_offset) and lp.text_offset[0] == 0
    assert r.usage.prompt_tokens == len(ids) and r.usage.completion_tokens == 0


def test_embeddings(client, model):
    texts = ["The cat sat on the mat.", "Quantum chromodynamics describes the strong force."]
    r = client.embeddings.create(model=model, input=texts, encoding_format="float")
    assert [d.index for d in r.data] == [0, 1]
    a, b = (d.embedding for d in r.data)
    assert len(a) == len(b) > 0
    if "SmolLM2-135M" in model:
        assert len(a) == 576  # SmolLM2-135M's hidden size
    for v in (a, b):
        assert math.isclose(math.sqrt(sum(x * x for x in v)), 1.0, abs_tol=1e-3)
    assert max(abs(x - y) for x, y in zip(a, b)) > 1e-3
    assert r.usage.prompt_tokens > 0


# --- errors ----------------------------------------------------------------------------


def test_400_bad_temperature(client, model):
    with pytest.raises(openai.BadRequestError) as e:
        client.chat.completions.create(model=model, messages=HELLO, temperature=5)
    err = api_error(e, 400)
    assert err["type"] == "invalid_request_error" and err["param"] == "temperature"


def test_400_malformed_json(http):
    r = http.post("/v1/chat/completions", content=b'{"messages": [{"role": "user", "content": "hi"}',
                  headers={"Content-Type": "application/json"})
    assert r.status_code == 400, r.text
    assert assert_envelope(r.json())["type"] == "invalid_request_error"


def test_400_empty_messages(client, model):
    with pytest.raises(openai.BadRequestError) as e:
        client.chat.completions.create(model=model, messages=[])
    err = api_error(e, 400)
    assert err["param"] == "messages"


def test_400_unknown_role(client, model):
    with pytest.raises(openai.BadRequestError) as e:
        client.chat.completions.create(model=model, messages=[{"role": "wizard", "content": "hi"}])
    err = api_error(e, 400)
    assert "wizard" in err["message"]


def test_401_missing_or_wrong_key(key):
    url = env_url("HERD_URL_KEY")
    assert key, "HERD_URL_KEY needs HERD_API_KEY, the key that server was started with"
    with make_client(url, key + "-wrong") as c:
        with pytest.raises(openai.AuthenticationError) as e:
            c.chat.completions.create(model="any", messages=HELLO, max_tokens=1)
        err = api_error(e, 401)
        assert err["type"] == "authentication_error"
    with make_http(url) as h:  # no Authorization header at all
        for path in ["/v1/models", "/v1/chat/completions"]:
            r = h.get(path) if path.endswith("models") else h.post(path, json={"messages": HELLO})
            assert r.status_code == 401, (path, r.text)
            assert_envelope(r.json())
        # Anthropic's route answers in Anthropic's envelope, and takes its x-api-key header.
        served = h.get("/v1/models", headers={"Authorization": f"Bearer {key}"}).json()["data"][0]["id"]
        msg = {"model": served, "max_tokens": 1, "messages": HELLO}
        r = h.post("/v1/messages", json=msg, headers={"x-api-key": key + "-wrong"})
        assert r.status_code == 401, r.text
        assert r.json()["error"]["type"] == "authentication_error" and r.json()["type"] == "error", r.text
        r = h.post("/v1/messages", json=msg, headers={"x-api-key": key})
        assert r.status_code == 200, r.text
    with make_client(url, key) as c:  # the right key works
        assert c.models.list().data


def test_404_unknown_model(client, http):
    with pytest.raises(openai.NotFoundError) as e:
        client.chat.completions.create(model="no-such-model", messages=HELLO, max_tokens=1)
    err = api_error(e, 404)
    assert err["param"] == "model" and "no-such-model" in err["message"]
    with pytest.raises(openai.NotFoundError) as e:
        client.completions.create(model="no-such-model", prompt="hi", max_tokens=1)
    api_error(e, 404)
    r = http.get("/v1/no-such-route")
    assert r.status_code == 404, r.text
    assert_envelope(r.json())


def test_400_prompt_longer_than_context():
    url = env_url("HERD_URL_SMALLCTX")
    with make_client(url) as c, make_http(url) as h:
        model = c.models.list().data[0].id
        n_ctx = h.post("/tokenize", json={"content": "x"}).json()["max_model_len"]
        assert n_ctx == 256, "HERD_URL_SMALLCTX should be started with --ctx 256"
        long_text = " ".join(f"word{i}" for i in range(300))
        n_prompt = len(tokenize(h, long_text))
        assert n_prompt > n_ctx
        with pytest.raises(openai.BadRequestError) as e:
            c.completions.create(model=model, prompt=long_text, max_tokens=4)
        err = api_error(e, 400)
        numbers = [int(x) for x in re.findall(r"\d+", err["message"])]
        assert n_ctx in numbers and n_prompt in numbers, err
        assert err["code"] == "context_length_exceeded", err
        # The chat route says the same about a rendered conversation.
        with pytest.raises(openai.BadRequestError) as e:
            c.chat.completions.create(model=model, messages=[{"role": "user", "content": long_text}], max_tokens=4)
        err = api_error(e, 400)
        numbers = [int(x) for x in re.findall(r"\d+", err["message"])]
        assert n_ctx in numbers and any(n > n_prompt for n in numbers), err
        # A prompt that fits but leaves less room than max_tokens: generation stops at
        # the end of the context, cut short.
        text = " ".join(f"word{i}" for i in range(70))
        n_prompt = len(tokenize(h, text))
        assert n_prompt + 8 < n_ctx < n_prompt + 64
        r = c.completions.create(model=model, prompt=text, max_tokens=64, temperature=0)
        assert r.choices[0].finish_reason == "length", r
        assert r.usage.prompt_tokens == n_prompt and r.usage.total_tokens <= n_ctx, r.usage


def test_429_queue_full():
    url = env_url("HERD_URL_TINYQUEUE")
    n = 8
    start = threading.Barrier(n)
    results = [None] * n

    with make_client(url) as c:
        model = c.models.list().data[0].id

        def one(i):
            start.wait()
            try:
                r = c.chat.completions.create(model=model, messages=POEM, max_tokens=24, temperature=1, seed=i)
                results[i] = ("ok", r.choices[0].finish_reason)
            except openai.APIStatusError as e:
                results[i] = (e.status_code, e.response.json())
            except Exception as e:  # noqa: BLE001 - reported below
                results[i] = ("exception", repr(e))

        threads = [threading.Thread(target=one, args=(i,)) for i in range(n)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(120)
    assert all(r is not None for r in results), results
    limited = [r for r in results if r[0] == 429]
    ok = [r for r in results if r[0] == "ok"]
    assert len(limited) + len(ok) == n, results
    assert limited and ok, results
    for _, body in limited:
        err = assert_envelope(body)
        assert err["type"] == "rate_limit_error", err


# --- deviations from OpenAI's API that the official client trips over --------------------


def test_embeddings_with_the_clients_default_encoding(client, model):
    # openai>=1 sends encoding_format "base64" unless told otherwise, and decodes it.
    r = client.embeddings.create(model=model, input="The cat sat on the mat.")
    v = r.data[0].embedding
    assert len(v) > 0
    assert math.isclose(math.sqrt(sum(x * x for x in v)), 1.0, abs_tol=1e-3)


def test_405_wrong_method_has_the_envelope(http):
    r = http.get("/v1/chat/completions")
    assert r.status_code == 405, r.text
    assert_envelope(r.json())


def test_413_body_too_large_has_the_envelope(http):
    body = b'{"messages": [{"role": "user", "content": "' + b"a" * (17 << 20) + b'"}]}'
    r = http.post("/v1/chat/completions", content=body, headers={"Content-Type": "application/json"})
    assert r.status_code == 413, r.text[:200]
    assert_envelope(r.json())
    # The unread rest of the body makes the connection unusable; the server says so.
    assert r.headers.get("connection", "").lower() == "close", r.headers


def test_anthropic_route_errors_keep_anthropics_envelope(url, key):
    # axum answers a wrong method itself; /v1/messages clients still get Anthropic's shape.
    # A fresh connection: the shared client's may be the one a 413 just closed.
    with make_http(url, key) as h:
        r = h.get("/v1/messages")
    assert r.status_code == 405, r.text
    body = r.json()
    assert body["type"] == "error" and body["error"]["type"] and body["error"]["message"], body
    assert "code" not in body["error"], body


def test_completions_context_error_names_prompt():
    url = env_url("HERD_URL_SMALLCTX")
    with make_client(url) as c:
        with pytest.raises(openai.BadRequestError) as e:
            c.completions.create(model=c.models.list().data[0].id, prompt="word " * 400, max_tokens=4)
        err = api_error(e, 400)
        assert err["param"] == "prompt", err  # /v1/completions has no `messages`
