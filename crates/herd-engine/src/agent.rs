//! The agent loop of one assistant turn: generate, decode a tool call, run the tool, feed
//! its result back as an `ipython` message, and generate again, until the model answers
//! without calling a tool (or the call budget is spent).

use crate::generate::{FinishReason, GenEvent, GenerateRequest, Generator};
use crate::prompt::Formatter;
use crate::tools::{ToolOutput, Toolbox};
use crate::{EngineError, SamplingParams};
use herd_llama::dialog::ToolOffer;
use herd_llama::llama31::{self, Llama31Message};
use herd_llama::toolcall::{StopReason, ToolCall, decode_assistant};
use std::ops::ControlFlow;

/// What happens during a turn, in order, for the caller to show.
#[derive(Debug)]
pub enum AgentEvent<'a> {
    /// Generated text, as it streams.
    Text(&'a str),
    /// The model called a tool (its text so far was the call).
    Call(&'a ToolCall),
    /// The tool's result, as the model will read it.
    Result(&'a ToolCall, &'a ToolOutput),
    /// The output looked like a tool call but was malformed; it stays text.
    Warning(&'a str),
}

/// The settings of a turn that do not change between its generations.
#[derive(Debug, Clone)]
pub struct TurnConfig {
    pub sampling: SamplingParams,
    pub max_tokens: Option<usize>,
    pub stop_strings: Vec<String>,
    pub stop_tokens: Vec<u32>,
    /// Tool calls allowed in one turn before herd stops the loop.
    pub max_tool_calls: usize,
}

/// How a turn ended.
#[derive(Debug, Clone, PartialEq)]
pub struct TurnOutcome {
    /// The assistant's final text.
    pub content: String,
    pub finish_reason: FinishReason,
    pub tool_calls: usize,
}

/// Runs one assistant turn after the last message of `history` and appends every
/// message it produces (assistant calls, tool results, the final answer) to it.
pub fn run_turn(
    generator: &mut Generator,
    formatter: &Formatter,
    offer: &ToolOffer,
    toolbox: &Toolbox,
    history: &mut Vec<Llama31Message>,
    cfg: &TurnConfig,
    mut on_event: impl FnMut(AgentEvent<'_>) -> ControlFlow<()>,
) -> Result<TurnOutcome, EngineError> {
    let mut calls = 0;
    loop {
        let prompt = formatter.render(&generator.tokenizer, history, offer)?;
        let req = GenerateRequest {
            prompt: prompt.ids,
            sampling: cfg.sampling,
            max_tokens: cfg.max_tokens,
            stop_strings: cfg.stop_strings.clone(),
            stop_tokens: cfg.stop_tokens.clone(),
            logprobs: 0,
        };
        let g = generator.generate(&req, |GenEvent::Token { text, .. }| on_event(AgentEvent::Text(text)))?;
        let stop = match (g.finish_reason, g.ids.last()) {
            (FinishReason::Stop, Some(&id)) if id == llama31::EOM_ID && matches!(formatter, Formatter::Llama31) => {
                StopReason::EndOfMessage
            }
            (FinishReason::Stop, _) => StopReason::EndOfTurn,
            _ => StopReason::OutOfTokens,
        };
        let decoded = decode_assistant(&g.text, stop);
        if let Some(w) = &decoded.warning {
            let _ = on_event(AgentEvent::Warning(w));
        }
        let interrupted = g.finish_reason == FinishReason::Interrupted;
        if decoded.tool_calls.is_empty() || interrupted || calls >= cfg.max_tool_calls {
            if !decoded.tool_calls.is_empty() && !interrupted {
                let w = format!("stopped after {calls} tool calls in one turn; the last call was not run");
                let _ = on_event(AgentEvent::Warning(&w));
            }
            history.push(message("assistant", g.text.clone(), Vec::new(), Some("end_of_turn")));
            return Ok(TurnOutcome { content: g.text, finish_reason: g.finish_reason, tool_calls: calls });
        }
        let tool_calls: Vec<ToolCall> = decoded.tool_calls.into_iter().map(normalize).collect();
        history.push(message("assistant", String::new(), tool_calls.clone(), Some("end_of_message")));
        for call in &tool_calls {
            calls += 1;
            if on_event(AgentEvent::Call(call)).is_break() {
                return Ok(TurnOutcome {
                    content: String::new(),
                    finish_reason: FinishReason::Interrupted,
                    tool_calls: calls,
                });
            }
            let out = toolbox.call(call);
            let _ = on_event(AgentEvent::Result(call, &out));
            history.push(message("ipython", out.text, Vec::new(), None));
        }
    }
}

/// The reference decoder remaps a custom-format call that names a built-in to
/// `{"query": first argument}`, which turns code into a query; give the code
/// interpreter its `code` back.
fn normalize(mut c: ToolCall) -> ToolCall {
    if c.tool_name == "code_interpreter"
        && !c.arguments.contains_key("code")
        && let Some(q) = c.arguments.remove("query")
    {
        c.arguments.insert("code".into(), q);
    }
    c
}

fn message(role: &str, content: String, tool_calls: Vec<ToolCall>, stop: Option<&str>) -> Llama31Message {
    Llama31Message { role: role.into(), content, context: None, tool_calls, stop_reason: stop.map(str::to_string) }
}
