//! Tool flags shared by `herd chat` and `herd render`, and `herd toolcall` (decode one
//! assistant output the way Meta's reference does).

use super::text_arg;
use anyhow::{Context, Result, bail};
use clap::Args;
use herd_engine::tools::{CustomTool, Toolbox};
use herd_llama::dialog::{ApiTool, ToolOffer};
use herd_llama::toolcall::{StopReason, ToolFormat, decode_assistant};

/// Tool flags of `herd chat`.
#[derive(Args, Debug, Clone)]
pub struct ToolOpts {
    /// Built-in tools to enable, comma-separated: code_interpreter (Python in a
    /// sandbox), brave_search (needs BRAVE_API_KEY), wolfram_alpha (needs WOLFRAM_APP_ID).
    #[arg(long, value_delimiter = ',')]
    pub tools: Vec<String>,
    /// Custom tools: a JSON list of OpenAI-style tools, each with a "command" (the
    /// program herd runs with the call's arguments as JSON on standard input; its
    /// standard output is the result), e.g. [{"type": "function", "function": {"name":
    /// "get_time", "description": "...", "parameters": {...}}, "command": ["date"]}].
    #[arg(long, value_name = "FILE")]
    pub tool_file: Option<String>,
    /// How custom tools are offered to a Llama 3.1 model: json or function_tag.
    #[arg(long, default_value = "json", value_parser = parse_format)]
    pub tool_format: ToolFormat,
    /// The "Today Date" of the system prompt (default: today, as "27 November 2026").
    #[arg(long)]
    pub date: Option<String>,
    /// Tool calls allowed in one answer.
    #[arg(long, default_value_t = 8)]
    pub max_tool_calls: usize,
    /// Seconds a custom tool may run.
    #[arg(long, default_value_t = 30)]
    pub tool_timeout: u64,
}

pub fn parse_format(s: &str) -> Result<ToolFormat, String> {
    match s.parse()? {
        ToolFormat::PythonList => Err("tools are offered as json or function_tag".into()),
        f => Ok(f),
    }
}

/// Today as Meta's system prompt writes it (`%d %B %Y`, UTC).
pub fn today() -> String {
    herd_llama::chat::format_utc_now("%d %B %Y")
}

/// Reads a tools file (OpenAI-style list; `-` for standard input).
pub fn read_tools(path: &str) -> Result<Vec<ApiTool>> {
    let raw = super::read_file_arg(path)?;
    serde_json::from_str(&raw).with_context(|| format!("{path}: expected a JSON list of tools"))
}

impl ToolOpts {
    /// The tools offered to the model and the toolbox that runs them.
    pub fn build(&self) -> Result<(ToolOffer, Toolbox)> {
        let mut offer = ToolOffer {
            format: self.tool_format,
            today: self.date.clone().unwrap_or_else(today),
            ..Default::default()
        };
        let mut toolbox = Toolbox::default();
        for t in &self.tools {
            match t.trim() {
                "code_interpreter" => toolbox.code_interpreter = true,
                "brave_search" => toolbox.brave_search = true,
                "wolfram_alpha" => toolbox.wolfram_alpha = true,
                "" => continue,
                other => bail!("unknown built-in tool {other:?}: use code_interpreter, brave_search, wolfram_alpha"),
            }
            offer.add_builtin(t.trim());
        }
        if let Some(file) = &self.tool_file {
            let tools = read_tools(file)?;
            offer.add_api_tools(&tools)?;
            for t in &tools {
                let Some(f) = &t.function else { continue };
                let command = t.command.clone().with_context(|| {
                    format!("{file}: tool {} has no \"command\" (the program herd runs for it)", f.name)
                })?;
                if command.is_empty() {
                    bail!("{file}: tool {} has an empty \"command\"", f.name);
                }
                toolbox.custom.push(CustomTool { name: f.name.clone(), command, timeout_secs: self.tool_timeout });
            }
            // Built-ins listed in the file are enabled too.
            toolbox.code_interpreter |= offer.builtins.iter().any(|b| b == "code_interpreter");
            toolbox.brave_search |= offer.builtins.iter().any(|b| b == "brave_search");
            toolbox.wolfram_alpha |= offer.builtins.iter().any(|b| b == "wolfram_alpha");
        }
        if toolbox.code_interpreter
            && let Err(e) = herd_engine::tools::sandbox_check()
        {
            eprintln!("herd: warning: {e}; code_interpreter calls will be refused, not run");
        }
        Ok((offer, toolbox))
    }
}

#[derive(Args, Debug)]
pub struct ToolcallArgs {
    /// An assistant output, special tokens written as text (e.g.
    /// `<|python_tag|>brave_search.call(query="...")<|eom_id|>`); `-` reads standard input.
    pub text: String,
    /// How the output ended when TEXT does not say: eom (<|eom_id|>) or eot (<|eot_id|>).
    #[arg(long, default_value = "eot", value_parser = ["eom", "eot"])]
    pub stop: String,
    /// Print {"content": ..., "tool_calls": [{"name": ..., "arguments": {...}}], "stop_reason": ...}.
    #[arg(long)]
    pub json: bool,
}

pub fn toolcall(a: ToolcallArgs) -> Result<()> {
    let text = text_arg(&a.text)?;
    let stop = if a.stop == "eom" { StopReason::EndOfMessage } else { StopReason::EndOfTurn };
    let d = decode_assistant(&text, stop);
    if let Some(w) = &d.warning {
        eprintln!("herd: warning: {w}; kept as text");
    }
    if a.json {
        let v = serde_json::json!({"content": d.content, "tool_calls": d.tool_calls, "stop_reason": d.stop_reason});
        println!("{v}");
    } else if d.tool_calls.is_empty() {
        println!("text ({:?}): {}", d.stop_reason, d.content);
    } else {
        for c in &d.tool_calls {
            println!("call {} {} ({:?})", c.tool_name, serde_json::Value::Object(c.arguments.clone()), d.stop_reason);
        }
    }
    Ok(())
}
