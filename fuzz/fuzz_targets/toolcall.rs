//! Tool-call decoding of untrusted model output: never panics; a decoded call leaves
//! the content empty; and a decoded custom call, written back in the JSON format,
//! decodes to itself (unless the text would carry a `<function=` tag, which the
//! reference's decoder looks for first, even inside JSON strings).
#![no_main]

use herd_llama::toolcall::{BUILTIN_TOOLS, StopReason, ToolFormat, decode_assistant, tool_call_text};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let d = decode_assistant(&text, StopReason::EndOfTurn);
    if d.tool_calls.is_empty() {
        return;
    }
    assert!(d.content.is_empty());
    for c in &d.tool_calls {
        if BUILTIN_TOOLS.contains(&c.tool_name.as_str()) {
            continue;
        }
        let again = tool_call_text(c, ToolFormat::Json);
        if again.contains("<function=") {
            continue;
        }
        let back = decode_assistant(&again, StopReason::EndOfTurn);
        assert_eq!(back.tool_calls, vec![c.clone()], "{again}");
    }
});
