"""Schemathesis hooks for test_schema.py (loaded through SCHEMATHESIS_HOOKS).

They bound the work one generated request can ask of the model, so that the whole
schema-driven run fits its time budget on a CPU: a capped `max_tokens` (added where the
request has none), at most two choices, two prompts, four embedding inputs. Every value
they change stays valid (a smaller count within its range, a shorter list, a limit
added), so a body the schema allows stays allowed and one it forbids stays forbidden;
the shapes, types and out-of-range values the checks are about are left alone. The
document's own examples are small already and run as written.
"""

import schemathesis

# Tokens one choice may generate.
MAX_TOKENS = 1
# Choices per request, prompts per completion request, inputs per embedding request.
MAX_CHOICES = 2
MAX_PROMPTS = 2
MAX_INPUTS = 4
# The limits the schema documents: counts above them stay, as the server must refuse them.
SCHEMA_MAX_N = 16
SCHEMA_MAX_PROMPTS = 16
SCHEMA_MAX_INPUTS = 256

GENERATE = {"/v1/chat/completions", "/v1/completions", "/v1/messages"}


def _is_int(v):
    return isinstance(v, int) and not isinstance(v, bool)


def _cap_int(body, key, cap):
    v = body.get(key)
    # null is "no limit" to the server, like an absent field.
    if v is None and key in body or _is_int(v) and v > cap:
        body[key] = cap


def _shorten(body, key, keep, schema_max):
    v = body.get(key)
    if isinstance(v, list) and keep < len(v) <= schema_max:
        body[key] = v[:keep]


@schemathesis.hook
def before_call(context, case, kwargs):
    body = case.body
    if not isinstance(body, dict):
        return
    path = case.operation.path
    meta = case.meta
    if meta is not None and meta.phase.name.value == "examples":
        # The document's own examples are small already: they run as written.
        return
    if path in GENERATE:
        for key in ("max_tokens", "max_completion_tokens"):
            _cap_int(body, key, MAX_TOKENS)
        if path == "/v1/chat/completions" and "max_tokens" not in body and "max_completion_tokens" not in body:
            # Without a limit a chat answer runs to the end of the context.
            body["max_tokens"] = MAX_TOKENS
        if path == "/v1/completions" and "max_tokens" not in body:
            body["max_tokens"] = MAX_TOKENS
        n = body.get("n")
        if _is_int(n) and MAX_CHOICES < n <= SCHEMA_MAX_N:
            body["n"] = MAX_CHOICES
    if path == "/v1/completions":
        prompt = body.get("prompt")
        # A list of strings or of token-id lists is several prompts; a flat id list is one.
        if isinstance(prompt, list) and prompt and all(isinstance(p, (str, list)) for p in prompt):
            _shorten(body, "prompt", MAX_PROMPTS, SCHEMA_MAX_PROMPTS)
    if path == "/v1/embeddings":
        inp = body.get("input")
        if isinstance(inp, list) and inp and all(isinstance(p, (str, list)) for p in inp):
            _shorten(body, "input", MAX_INPUTS, SCHEMA_MAX_INPUTS)
