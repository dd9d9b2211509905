"""Many streaming clients at once, a third of them hanging up mid-stream: every stream that
is read to the end is whole, nothing fails with a 5xx, and afterwards the server holds no
sequence and no KV cache (the disconnected ones were cancelled and freed)."""

import concurrent.futures as cf
import time

import openai

from conftest import metrics

CLIENTS = 32
MAX_TOKENS = 48
DEADLINE_S = 180
PROMPTS = [
    "Tell me a short story about a lighthouse.",
    "Explain why the sky is blue.",
    "List some fruits and their colors.",
    "Describe a busy market in the morning.",
]


def one_client(client, model, i):
    """Streams one chat completion; every third client closes its stream after a few
    chunks. Returns what it saw."""
    hang_up = i % 3 == 0
    stream = client.chat.completions.create(
        model=model,
        messages=[{"role": "user", "content": PROMPTS[i % len(PROMPTS)]}],
        max_tokens=MAX_TOKENS, temperature=1, seed=i, stream=True,
        stream_options={"include_usage": True},
    )
    seen = {"i": i, "hung_up": hang_up, "chunks": 0, "text": "", "finish": [], "usage": None, "role": None}
    with stream:
        for ch in stream:
            seen["chunks"] += 1
            if ch.usage is not None:
                seen["usage"] = ch.usage
            for c in ch.choices:
                seen["role"] = seen["role"] or c.delta.role
                seen["text"] += c.delta.content or ""
                if c.finish_reason:
                    seen["finish"].append(c.finish_reason)
            if hang_up and seen["chunks"] >= 4:
                break  # leaving the `with` closes the connection mid-stream
    return seen


def test_32_streams_with_disconnects(client, http, model):
    before = metrics(http)["herd_requests_total"]
    start = time.monotonic()
    with cf.ThreadPoolExecutor(CLIENTS) as pool:
        futures = [pool.submit(one_client, client, model, i) for i in range(CLIENTS)]
        done, pending = cf.wait(futures, timeout=DEADLINE_S)
        assert not pending, f"{len(pending)} of {CLIENTS} streams still running after {DEADLINE_S} s"
    errors = []
    results = []
    for f in futures:
        try:
            results.append(f.result())
        except openai.APIStatusError as e:
            errors.append(f"HTTP {e.status_code}: {e.response.text}")
        except Exception as e:  # noqa: BLE001 - reported below
            errors.append(repr(e))
    assert not errors, errors
    elapsed = time.monotonic() - start

    for r in results:
        assert r["role"] == "assistant", r
        if r["hung_up"]:
            continue
        # Read to the end: the iteration ended at `data: [DONE]`, after exactly one
        # finish reason and the usage chunk.
        assert len(r["finish"]) == 1 and r["finish"][0] in ("stop", "length"), r
        assert r["text"], r
        u = r["usage"]
        assert u is not None and u.total_tokens == u.prompt_tokens + u.completion_tokens, r
        if r["finish"][0] == "length":
            assert u.completion_tokens == MAX_TOKENS, r
        else:
            assert 0 < u.completion_tokens <= MAX_TOKENS, r

    # Everything, the hung-up streams included, is released within a few seconds.
    deadline = time.monotonic() + 10
    while True:
        m = metrics(http)
        idle = m["herd_running_sequences"] == 0 and m["herd_kv_cache_usage_ratio"] == 0 and m["herd_queue_depth"] == 0
        if idle or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert idle, {k: m[k] for k in ("herd_running_sequences", "herd_kv_cache_usage_ratio", "herd_queue_depth")}
    assert m["herd_requests_total"] - before >= CLIENTS
    print(f"{CLIENTS} streams ({CLIENTS // 3 + 1} hung up) in {elapsed:.1f} s")
