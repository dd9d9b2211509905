//! The web built-ins: Brave Search and Wolfram Alpha over HTTPS, compact JSON out, every failure as text.
//!
//! HTTP goes through `ureq` 3 (blocking, rustls with ring, no gzip) rather than a
//! `curl` subprocess: it added about 80 CPU-seconds to a clean release build (1 min 10 s
//! measured on a 2-core machine, mostly ring and rustls), within the budget we set, and
//! it keeps the API keys out of the process list and needs no external binary. Every
//! request is bounded by a 10 s global timeout (DNS, connect, headers and body) and a
//! 2 MiB body limit. Keys never appear in a returned text: they are masked in errors.

use super::ToolOutput;
use serde_json::{Value, json};
use std::time::Duration;

/// Brave Search's web search endpoint.
pub const BRAVE_URL: &str = "https://api.search.brave.com/res/v1/web/search";
/// Wolfram Alpha's full results API.
pub const WOLFRAM_URL: &str = "https://api.wolframalpha.com/v2/query";
/// Bound on a whole request.
pub const TIMEOUT: Duration = Duration::from_secs(10);
/// Results returned from a search, as Meta's `BraveSearchTool` does (`top_k`).
const TOP_K: usize = 5;
/// Largest response body read.
const MAX_BODY: u64 = 2 << 20;

/// Where a service is reached; the real services by default, a local server in tests.
#[derive(Debug, Clone)]
pub struct Endpoint {
    pub url: String,
    pub timeout: Duration,
}

impl Endpoint {
    pub fn brave() -> Self {
        Self { url: BRAVE_URL.to_string(), timeout: TIMEOUT }
    }

    pub fn wolfram() -> Self {
        Self { url: WOLFRAM_URL.to_string(), timeout: TIMEOUT }
    }
}

/// Searches the web with Brave; the key comes from `BRAVE_API_KEY`.
pub fn brave_search(query: &str) -> ToolOutput {
    let key = std::env::var("BRAVE_API_KEY").ok();
    brave_search_with(query, key.as_deref(), &Endpoint::brave())
}

/// Asks Wolfram Alpha; the app id comes from `WOLFRAM_APP_ID`.
pub fn wolfram_alpha(query: &str) -> ToolOutput {
    let key = std::env::var("WOLFRAM_APP_ID").ok();
    wolfram_alpha_with(query, key.as_deref(), &Endpoint::wolfram())
}

/// [`brave_search`] with an explicit key (`None` or empty: not configured) and endpoint.
/// The text is `{"query": ..., "top_k": [{"title", "url", "description"}, ...]}`.
pub fn brave_search_with(query: &str, key: Option<&str>, endpoint: &Endpoint) -> ToolOutput {
    let Some(key) = key.filter(|k| !k.is_empty()) else {
        return ToolOutput::failed("brave_search is not configured: set BRAVE_API_KEY");
    };
    let count = TOP_K.to_string();
    let request = Get {
        endpoint,
        query: &[("q", query), ("count", &count)],
        headers: &[("X-Subscription-Token", key), ("Accept", "application/json")],
        secret: key,
    };
    match get_json(&request).and_then(|body| brave_results(query, &body)) {
        Ok(text) => ToolOutput::ok(text),
        Err(e) => ToolOutput::failed(format!("brave_search failed: {e}")),
    }
}

/// [`wolfram_alpha`] with an explicit app id (`None` or empty: not configured) and
/// endpoint. The text is `{"query": ..., "pods": [{"title", "plaintext"}, ...]}`.
pub fn wolfram_alpha_with(query: &str, key: Option<&str>, endpoint: &Endpoint) -> ToolOutput {
    let Some(key) = key.filter(|k| !k.is_empty()) else {
        return ToolOutput::failed("wolfram_alpha is not configured: set WOLFRAM_APP_ID");
    };
    let request = Get {
        endpoint,
        query: &[("input", query), ("appid", key), ("output", "json"), ("format", "plaintext")],
        headers: &[("Accept", "application/json")],
        secret: key,
    };
    match get_json(&request).and_then(|body| wolfram_pods(query, &body)) {
        Ok(text) => ToolOutput::ok(text),
        Err(e) => ToolOutput::failed(format!("wolfram_alpha failed: {e}")),
    }
}

/// One GET request.
struct Get<'a> {
    endpoint: &'a Endpoint,
    /// Query parameters, percent-encoded by ureq.
    query: &'a [(&'a str, &'a str)],
    headers: &'a [(&'a str, &'a str)],
    /// Masked out of every error message.
    secret: &'a str,
}

/// Performs the request and parses the body as JSON; errors are short, key-free texts.
fn get_json(request: &Get) -> Result<Value, String> {
    let mask = |e: String| e.replace(request.secret, "***");
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .timeout_global(Some(request.endpoint.timeout))
        .http_status_as_error(false)
        .user_agent("herd")
        .build()
        .into();
    let mut builder = agent.get(&request.endpoint.url);
    for (k, v) in request.query {
        builder = builder.query(*k, *v);
    }
    for (k, v) in request.headers {
        builder = builder.header(*k, *v);
    }
    let mut response = builder.call().map_err(|e| mask(e.to_string()))?;
    let status = response.status();
    let body = response
        .body_mut()
        .with_config()
        .limit(MAX_BODY)
        .read_to_string()
        .map_err(|e| mask(format!("reading the response: {e}")))?;
    if !status.is_success() {
        let snippet: String = body.chars().take(200).collect();
        return Err(mask(format!("HTTP {}: {}", status.as_u16(), snippet.trim())));
    }
    serde_json::from_str(&body).map_err(|e| format!("the response is not JSON: {e}"))
}

/// Compacts a Brave web search response to its top results.
pub fn brave_results(query: &str, body: &Value) -> Result<String, String> {
    let results = body.pointer("/web/results").and_then(Value::as_array).map(Vec::as_slice).unwrap_or_default();
    let field = |r: &Value, k: &str| {
        // Brave marks matched words with <strong>; the model needs the words only.
        r.get(k).and_then(Value::as_str).unwrap_or("").replace("<strong>", "").replace("</strong>", "")
    };
    let top: Vec<Value> = results
        .iter()
        .take(TOP_K)
        .map(|r| json!({"title": field(r, "title"), "url": field(r, "url"), "description": field(r, "description")}))
        .collect();
    Ok(json!({"query": query, "top_k": top}).to_string())
}

/// Compacts a Wolfram Alpha response to each pod's plaintext.
pub fn wolfram_pods(query: &str, body: &Value) -> Result<String, String> {
    let result = body.get("queryresult").ok_or("the response has no queryresult")?;
    if let Some(msg) = result.pointer("/error/msg").and_then(Value::as_str) {
        return Err(msg.to_string());
    }
    let pods: Vec<Value> = result
        .get("pods")
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or_default()
        .iter()
        .filter_map(|pod| {
            let subpods = pod.get("subpods").and_then(Value::as_array)?;
            let text: Vec<&str> = subpods
                .iter()
                .filter_map(|s| s.get("plaintext").and_then(Value::as_str))
                .filter(|t| !t.is_empty())
                .collect();
            let title = pod.get("title").and_then(Value::as_str).unwrap_or("");
            (!text.is_empty()).then(|| json!({"title": title, "plaintext": text.join("\n")}))
        })
        .collect();
    if pods.is_empty() {
        return Err(format!("no answer for {query:?}"));
    }
    Ok(json!({"query": query, "pods": pods}).to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn brave_response_is_compacted() {
        let body = json!({"web": {"results": [
            {"title": "Gold <strong>price</strong>", "url": "https://a.example", "description": "d", "age": "x"},
            {"title": "t2", "url": "https://b.example"}
        ]}});
        let text = brave_results("gold", &body).unwrap_or_default();
        assert_eq!(
            text,
            r#"{"query":"gold","top_k":[{"title":"Gold price","url":"https://a.example","description":"d"},{"title":"t2","url":"https://b.example","description":""}]}"#
        );
    }

    #[test]
    fn wolfram_response_keeps_pod_plaintext() {
        let body = json!({"queryresult": {"success": true, "pods": [
            {"title": "Input", "subpods": [{"plaintext": "2+2"}]},
            {"title": "Plot", "subpods": [{"plaintext": ""}]},
            {"title": "Result", "subpods": [{"plaintext": "4"}, {"plaintext": "four"}]}
        ]}});
        assert_eq!(
            wolfram_pods("2+2", &body),
            Ok(r#"{"query":"2+2","pods":[{"title":"Input","plaintext":"2+2"},{"title":"Result","plaintext":"4\nfour"}]}"#.to_string())
        );
    }

    #[test]
    fn wolfram_errors_and_empty_answers_are_failures() {
        let body = json!({"queryresult": {"success": false, "error": {"code": "1", "msg": "Invalid appid"}}});
        assert_eq!(wolfram_pods("q", &body), Err("Invalid appid".to_string()));
        let body = json!({"queryresult": {"success": false, "error": false}});
        assert_eq!(wolfram_pods("q", &body), Err("no answer for \"q\"".to_string()));
    }
}
