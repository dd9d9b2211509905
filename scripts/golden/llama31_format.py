#!/usr/bin/env python3
"""Golden fixtures for the Llama 3.1 prompt format and tool-call decoding, from Meta's
llama-models 0.3.0 (`ChatFormat.encode_dialog_prompt`, `decode_assistant_message_from_content`).

Writes tests/fixtures/llama31/format.json:

  dialogs   every conversation of llama-models' tests (tests/api/test_tokenizer.py,
            test_generation.py) and of llama3_1/prompt_format.md, plus edge cases, as
            OpenAI-style messages (what `herd render` reads; herd's `stop_reason` and
            `context` fields carry what the OpenAI shape has no place for) with the ids
            `encode_dialog_prompt` gives for them and their decoded text. The
            prompt_format.md conversations are split out of the document's own prompt
            blocks; its assistant turns are decoded with the reference's decoder.
  md_prompts  the prompt text of each prompt_format.md example, whole, with the
            system and user messages in it (herd's system-prompt and tool-offer
            builders are checked against these)
  decode    assistant outputs (every one in prompt_format.md, the inputs of
            tests/api/test_tool_utils.py, and malformed look-alikes) with what
            `decode_assistant_message_from_content` makes of them, or the exception it
            raises ("error")

Run with the golden venv (scripts/golden/regen.sh llama31).
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import FIXTURES, log, write_json  # noqa: E402


def openai_message(m) -> dict:
    """A llama-models RawMessage as the OpenAI-style message herd reads."""
    role = "tool" if m.role in ("tool", "ipython") else m.role
    out = {"role": role, "content": m.content}
    if m.role == "user" and m.context is not None:
        out["context"] = m.context
    if m.role == "assistant":
        if m.tool_calls:
            out["tool_calls"] = [
                {
                    "id": t.call_id,
                    "type": "function",
                    "function": {
                        "name": t.tool_name.value if hasattr(t.tool_name, "value") else t.tool_name,
                        "arguments": t.arguments if isinstance(t.arguments, str) else json.dumps(t.arguments),
                    },
                }
                for t in m.tool_calls
            ]
        out["stop_reason"] = m.stop_reason.value
    return out


def md_blocks(md: str) -> list[dict]:
    """The (title, input prompt, model response) examples of prompt_format.md."""
    out = []
    title = None
    pending = None
    for part in re.split(r"(?m)^(#+ .*)$", md):
        if part.startswith("#"):
            if not part.startswith("#####"):
                title = part.lstrip("# ").strip()
            pending = part.lstrip("# ").strip() if part.startswith("#####") else pending
            continue
        m = re.search(r"```\n(.*?)```", part, re.S)
        if not m or pending is None:
            continue
        # The document writes each block's text followed by one newline before the fence.
        text = m.group(1)[:-1] if m.group(1).endswith("\n") else m.group(1)
        if pending == "Input Prompt Format":
            out.append({"title": title, "prompt": text})
        elif pending == "Model Response Format" and out and out[-1]["title"] == title:
            out[-1]["response"] = text
        pending = None
    return out


HEADER = re.compile(r"<\|start_header_id\|>(\w+)<\|end_header_id\|>\n\n(.*?)(<\|eot_id\|>|<\|eom_id\|>)", re.S)


def md_messages(fmt, prompt: str):
    """The messages of one prompt_format.md prompt (ending with an open assistant header)."""
    from llama_models.datatypes import RawMessage, StopReason

    assert prompt.startswith("<|begin_of_text|>"), prompt[:40]
    body = prompt[len("<|begin_of_text|>") :]
    tail = "<|start_header_id|>assistant<|end_header_id|>\n\n"
    if not body.endswith(tail):
        return None  # the base-model example: plain text, no dialog
    messages = []
    pos = 0
    for m in HEADER.finditer(body):
        assert m.start() == pos, (pos, body[pos : pos + 60])
        role, content, end = m.groups()
        if role == "assistant":
            stop = StopReason.end_of_message if end == "<|eom_id|>" else StopReason.end_of_turn
            messages.append(fmt.decode_assistant_message_from_content(content + end, stop))
        else:
            messages.append(RawMessage(role="tool" if role == "ipython" else role, content=content))
        pos = m.end()
    assert body[pos:] == tail
    return messages


def decode_row(fmt, text: str, stop: str) -> dict:
    from llama_models.datatypes import StopReason

    row = {"text": text, "stop": stop}
    try:
        msg = fmt.decode_assistant_message_from_content(
            text, StopReason.end_of_message if stop == "eom" else StopReason.end_of_turn
        )
        row["content"] = msg.content
        row["stop_reason"] = msg.stop_reason.value
        row["tool_calls"] = [
            {"name": t.tool_name.value if hasattr(t.tool_name, "value") else t.tool_name, "arguments": t.arguments}
            for t in msg.tool_calls
        ]
        json.dumps(row, allow_nan=False)
    except Exception as e:  # the reference raises on some malformed calls
        row = {"text": text, "stop": stop, "error": f"{type(e).__name__}: {str(e).splitlines()[0]}"}
    return row


# Assistant outputs beyond prompt_format.md and test_tool_utils.py: each decode branch,
# the reference's quirks, and malformed look-alikes that must come back as text.
EXTRA_OUTPUTS = [
    "Hello! How can I help you today?",
    "",
    "   brave_search.call(query=\"padded with spaces\")   ",
    "\nbrave_search.call(query=\"leading newline\")",
    "<|start_header_id|>assistant<|end_header_id|>\n\nbrave_search.call(query=\"after a header\")<|eom_id|>",
    "<|python_tag|>brave_search.call(query=\"weather in Menlo Park\")<|eom_id|>",
    "<|python_tag|>wolfram_alpha.call(query=\"solve x^2 = 4\")<|eom_id|>",
    "<|python_tag|>photogen.call(query=\"a llama on a hill\")<|eom_id|>",
    "Let me look: brave_search.call(query=\"first\") and wolfram_alpha.call(query=\"second\")",
    "my_tool.call(query=\"not a built-in\")",
    "données.call(query=\"unicode name\")",
    "brave_search.call(query=\"no closing paren\"",
    "brave_search.call(query='single quotes')",
    "brave_search.call(query=\"multi\nline\")",
    "x).call(query=\"no word\") then foo.call(query=\"ok\")",
    "<|python_tag|>print(2 ** 10)<|eom_id|>",
    "<|python_tag|>import math\nprint(math.sqrt(2))",
    "<|python_tag|>",
    "<|python_tag|>Just text after a python tag.<|eot_id|>",
    '{"type": "function", "name": "get_weather", "parameters": {"city": "Paris", "unit": "c"}}',
    '<|python_tag|>{"type": "function", "name": "get_weather", "parameters": {"city": "Paris"}}<|eom_id|>',
    '{"name": "get_weather", "parameters": {"city": "Paris", "days": 3, "detailed": true, "ratio": 0.5, "x": null}}',
    '  {"name": "spaced", "parameters": {}}\n\n',
    '{"name": "list_arg", "parameters": {"ids": [1, 2, 3], "opts": {"a": "b"}}}',
    '{"name": "unicode", "parameters": {"city": "Zürich \\u00e9 日本"}}',
    '{"name": "f", "parameters": null}',
    '{"type": "function", "parameters": {"a": 1}}',
    '{"name": "no_params"}',
    '{"name": "brave_search", "parameters": {"query": "json names a built-in"}}',
    '{"name": "code_interpreter", "parameters": {"code": "print(1)"}}',
    '{"name": "brave_search", "parameters": {}}',
    '{"name": "nested", "parameters": {"a": {"b": {"c": 1}}}}',
    '{"name": 5, "parameters": {}}',
    '{"type": "other", "value": 1}',
    '{"name": "f", "parameters": {"a": 1}',
    '[1, 2, 3]',
    '"just a string"',
    '<function=get_weather>{"city": "Tokyo"}</function>',
    '<function=get_weather>{"city": "Tokyo"}</function><|eot_id|>',
    "<function=single_quotes>{'city': 'Oslo'}</function>",
    'Sure, calling it now. <function=get_time>{}</function>',
    '<function=a>b>{"x": 1}</function>',
    '<function=f>{"a": {"b": 1}}</function>',
    '<function=f>{"a": 1,\n"b": 2}</function>',
    '<function=f>{"a": "it\'s"}</function>',
    '<function=first>{"n": 1}</function><function=second>{"n": 2}</function>',
    '<function=brave_search>{"query": "tag names a built-in"}</function>',
    '<function=broken>{not json}</function>',
    '<function=broken>{not json}</function> brave_search.call(query="fallback")',
    '<function=}>{"a": 1}</function>',
    '<function=>{"a": 1}</function>',
    '[get_weather(city="Paris")]',
    '[get_weather(city="Paris", days=3), get_time(tz="UTC")]',
    "[f(a='single', b=-1, c=+2.5, d=1e3, e=True, f=False, g=None)]",
    '[f(a=[1, 2], b={"k": "v"}, c=(1, 2), d=(), e=[])]',
    '[f(a="esc\\n\\t\\"q\\" \\x41\\u00e9\\U0001F600 \\101", b=r"raw\\n")]',
    '[f(a="implicit" " concat", b=0x1F, c=0o17, d=0b101, e=1_000)]',
    '[f(a="""triple\nquoted""")]',
    '[\n  f(a=1),\n  g(b=2),\n]',
    '[f(a=1)]  # trailing comment',
    '[f()]',
    '[brave_search(query="list names a built-in")]',
    '[f(a=x)]',
    '[f(a=1+2)]',
    '[f("positional")]',
    '[f(a=1), 42]',
    '[f(a=1)',
    '[]',
    ' [f(a=1)]',
    '[a.b(c=1)]',
    '[f(a=1, a=2)]',
    '[f(a=-True)]',
    '[f(a={"x": [1, 2]})]',
    '[f(a=[[1]])]',
    '<|python_tag|>[f(a=1)]<|eom_id|>',
    'get_weather(city="Paris")',
    '<|eot_id|>',
    'text<|eom_id|>',
]

# tests/api/test_tool_utils.py inputs
TOOL_UTILS_INPUTS = [
    '<function=getWeather>{"location":"New York","date":"2023-08-05"}',
    '[get_boiling_point(liquid_name="water", celcius=True)]',
    '[get_boiling_point(liquid_name="water", celcius=True), get_melting_point(substance="ice", kelvin=False)]',
    '[get_boiling_point(liquid_name="water"), 42]',
    '[get_boiling_point("water", True)]',
    '[[get_boiling_point(liquid_name="water")]]',
    '{"func": get_boiling_point(liquid_name="water")}',
    '[get_boiling_point(liquid_name="water", celcius=True',
    '[get_boiling_point(liquid_name="water", celcius=True, precise=False)]',
    "[calculate_volume(radius=5.2, height=10)]",
    'get_boiling_point(liquid_name="water")',
    '[(get_boiling_point(liquid_name="water"),)]',
    '[process_data(name="sample", value=42, active=True, ratio=3.14)]',
    "[initialize()]",
    '[analyze_text(content="Hello, world!", language="en")]',
    '[get_boiling_point(liquid={"name":"water", "color":"translucent"}), convert_temperature(value=[100, 101], from_unit="C", to_unit="F")]',
]


def test_dialogs():
    from llama_models.datatypes import BuiltinTool, RawMessage, StopReason, ToolCall

    def msg(role, content, **kw):
        return RawMessage(role=role, content=content, **kw)

    def call(i, name, **args):
        return ToolCall(call_id=f"call_{i}", tool_name=name, arguments=args)

    return [
        ("test_tokenizer.py test_encode_message", [msg("user", "This is a test sentence.")]),
        ("test_tokenizer.py test_encode_dialog", [msg("system", "This is a test sentence."), msg("user", "This is a response.")]),
        ("test_generation.py haiku", [msg("system", "Always answer with Haiku"), msg("user", "I am going to Paris, what should I see?")]),
        ("test_generation.py emojis", [msg("system", "Always answer with emojis"), msg("user", "How to go from Beijing to NY?")]),
        ("test_generation.py mayonnaise", [msg("user", "what is the recipe of mayonnaise in two sentences?")]),
        ("user only", [msg("user", "Hi")]),
        (
            "multi-turn",
            [
                msg("system", "You are terse."),
                msg("user", "What is 2+2?"),
                msg("assistant", "4", stop_reason=StopReason.end_of_turn),
                msg("user", "And 3+3?"),
            ],
        ),
        (
            "brave_search call, eom, ipython result",
            [
                msg("user", "Search the weather in Paris."),
                msg("assistant", "", stop_reason=StopReason.end_of_message, tool_calls=[call(1, BuiltinTool.brave_search, query="weather Paris")]),
                msg("tool", '{"temp_c": 21}'),
            ],
        ),
        (
            "code_interpreter call -> python_tag + code + eom",
            [
                msg("user", "Compute 2**10 in Python."),
                msg("assistant", "", stop_reason=StopReason.end_of_message, tool_calls=[call(2, BuiltinTool.code_interpreter, code="print(2**10)")]),
                msg("tool", "1024"),
            ],
        ),
        (
            "custom tool call, json format",
            [
                msg("user", "What's the weather in SF?"),
                msg("assistant", "", stop_reason=StopReason.end_of_turn, tool_calls=[call(3, "get_weather", city="San Francisco", unit="c")]),
                msg("tool", '{"temp": 18, "sky": "fog"}'),
                msg("assistant", "It is 18 °C and foggy.", stop_reason=StopReason.end_of_turn),
            ],
        ),
        (
            "custom tool call, json format, non-ASCII arguments",
            [
                msg("user", "Wetter in Zürich?"),
                msg("assistant", "", stop_reason=StopReason.end_of_message, tool_calls=[call(4, "get_weather", city="Zürich", days=2, hourly=False)]),
            ],
        ),
        ("user with RAG context", [msg("user", "Summarize.", context="Llamas are camelids.")]),
        ("user text with special-token text", [msg("user", "Please print <|eot_id|> and <|python_tag|> literally.")]),
    ]


FUNCTION_TAG_DIALOG = "custom tool call, function-tag format"


def main() -> None:
    import llama_models
    from llama_models.datatypes import RawMessage, StopReason, ToolCall, ToolPromptFormat
    from llama_models.llama3.chat_format import ChatFormat
    from llama_models.llama3.tokenizer import Tokenizer

    tok = Tokenizer.get_instance()
    fmt = ChatFormat(tok)
    md_path = Path(llama_models.__file__).parent / "llama3_1" / "prompt_format.md"
    md = md_path.read_text(encoding="utf-8")

    dialogs = []

    def add(name, messages, tool_format=ToolPromptFormat.json):
        ids = fmt.encode_dialog_prompt(messages, tool_format).tokens
        dialogs.append(
            {
                "name": name,
                "tool_format": tool_format.value,
                "messages": [openai_message(m) for m in messages],
                "ids": ids,
                "text": tok.decode(ids),
            }
        )

    for name, messages in test_dialogs():
        add(name, messages)
    add(
        FUNCTION_TAG_DIALOG,
        [
            RawMessage(role="user", content="Trending songs?"),
            RawMessage(
                role="assistant",
                content="",
                stop_reason=StopReason.end_of_turn,
                tool_calls=[ToolCall(call_id="call_5", tool_name="trending_songs", arguments={"n": 10})],
            ),
        ],
        ToolPromptFormat.function_tag,
    )

    md_prompts = []
    decode = []
    for ex in md_blocks(md):
        messages = md_messages(fmt, ex["prompt"])
        if messages is None:
            continue
        add(f"prompt_format.md: {ex['title']}", messages)
        md_prompts.append({"title": ex["title"], "prompt": ex["prompt"], "messages": [openai_message(m) for m in messages]})
        if "response" in ex:
            decode.append({"source": f"prompt_format.md: {ex['title']}", **decode_row(fmt, ex["response"], "eot")})
    assert len(md_prompts) == 6, [p["title"] for p in md_prompts]

    for text in TOOL_UTILS_INPUTS:
        decode.append({"source": "test_tool_utils.py", **decode_row(fmt, text, "eot")})
    for text in EXTRA_OUTPUTS:
        for stop in ("eot", "eom"):
            decode.append({"source": "edge", **decode_row(fmt, text, stop)})

    out = FIXTURES / "llama31" / "format.json"
    write_json(
        out,
        {
            "generator": "scripts/golden/llama31_format.py (llama-models 0.3.0 ChatFormat)",
            "dialogs": dialogs,
            "md_prompts": md_prompts,
            "decode": decode,
        },
    )
    n_err = sum(1 for d in decode if "error" in d)
    log(f"llama31: {len(dialogs)} dialogs, {len(md_prompts)} prompt_format.md prompts, {len(decode)} decode cases ({n_err} raise)")


if __name__ == "__main__":
    main()
