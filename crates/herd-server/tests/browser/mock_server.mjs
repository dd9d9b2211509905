#!/usr/bin/env node
// A stand-in for `herd serve` that speaks the protocol the chat page expects, for
// developing the page and its browser test without a model. No dependencies.
//
//   node mock_server.mjs [--port 8080] [--host 127.0.0.1] [--api-key KEY] [--delay-ms 50]
//
// Serves ../../assets/{index.html,app.js,style.css} at /, /app.js, /style.css and:
//   GET  /v1/models            -> {"object":"list","data":[{"id":"mock-llama",...}]}
//   POST /v1/chat/completions  -> with "stream": true, an SSE stream of OpenAI
//        chat.completion.chunk objects, one word every --delay-ms:
//          data: {..."choices":[{"index":0,"delta":{"role":"assistant","content":""},"finish_reason":null}]}
//          data: {..."choices":[{"index":0,"delta":{"content":"word "},"finish_reason":null}]}   (repeated)
//          data: {..."choices":[{"index":0,"delta":{},"finish_reason":"stop"}]}
//          data: {..."choices":[],"usage":{"prompt_tokens":..,"completion_tokens":..,"total_tokens":..}}
//                     (only with stream_options.include_usage; the chunks before then carry "usage":null)
//          data: [DONE]
//        each followed by a blank line. Without "stream", one chat.completion object.
//        A mid-stream failure is a chunk {"error":{...}} and the end of the stream (no [DONE]).
//   Errors: HTTP status + {"error":{"message","type","param","code"}}.
//
// The reply depends on the last user message, so every branch of the page can be tried:
//   contains "story" or "long"  -> a long answer (hundreds of words; good for Stop)
//   contains "markdown"         -> headings, lists, code fence, links (incl. a javascript: one)
//   contains "tool"             -> a streamed tool call (arguments in pieces), finish_reason "tool_calls"
//   contains "midstream error"  -> some words, then a {"error":{...}} chunk
//   contains "http error"       -> HTTP 400 with an error body
//   contains "no stream"        -> ignores "stream": one plain chat.completion JSON object
//   otherwise                   -> a short answer
// With --api-key, both /v1 routes need "Authorization: Bearer KEY" (else HTTP 401).

import http from 'node:http';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const assets = path.resolve(here, '../../assets');

function arg(name, fallback) {
  const i = process.argv.indexOf(name);
  return i >= 0 && i + 1 < process.argv.length ? process.argv[i + 1] : fallback;
}
const port = Number(arg('--port', process.env.PORT || 8080));
const host = arg('--host', '127.0.0.1');
const apiKey = arg('--api-key', process.env.MOCK_API_KEY || '');
const delayMs = Number(arg('--delay-ms', 50));
const MODEL = 'mock-llama';
const CSP = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'";

const FILES = {
  '/': ['index.html', 'text/html; charset=utf-8'],
  '/index.html': ['index.html', 'text/html; charset=utf-8'],
  '/app.js': ['app.js', 'text/javascript; charset=utf-8'],
  '/style.css': ['style.css', 'text/css; charset=utf-8'],
};

const SHORT = 'The capital of France is **Paris**. It has been the capital for most of the country\'s history, '
  + 'and it sits on the river *Seine*.';

const LONG = (() => {
  const base = 'Once upon a time, in a land of jagged mountains and deep green valleys, there lived a dragon '
    + 'named Emberwing. Her scales shone like polished copper in the morning sun, and her eyes held the '
    + 'patience of a thousand winters. Every evening she flew over the villages below, watching the '
    + 'people light their lanterns one by one.';
  const parts = [];
  for (let i = 1; i <= 12; i++) parts.push(`## Chapter ${i}\n\n${base}`);
  return parts.join('\n\n');
})();

const MARKDOWN = [
  '# Heading one',
  '## Heading two',
  '### Heading three',
  '',
  'Some **bold**, some *italic*, some `inline code` and a [safe link](https://example.com/path?q=1).',
  'A [bad link](javascript:alert(1)) stays text, and so does <img src=x onerror=alert(1)>.',
  '',
  '- first bullet',
  '- second bullet with **bold**',
  '  - nested bullet',
  '',
  '1. one',
  '2. two',
  '3. three',
  '',
  '```python',
  'def hello(name):',
  '    print(f"hello {name} <b>not bold</b>")',
  '```',
  '',
  '> a quote',
  '',
  'The end.',
].join('\n');

function json(res, status, body, extraHeaders) {
  const text = JSON.stringify(body);
  res.writeHead(status, Object.assign({
    'Content-Type': 'application/json',
    'Content-Length': Buffer.byteLength(text),
  }, extraHeaders || {}));
  res.end(text);
}

function apiError(res, status, message, type, code, param) {
  json(res, status, { error: { message, type, param: param ?? null, code: code ?? null } });
}

function authorized(req) {
  if (!apiKey) return true;
  return req.headers.authorization === `Bearer ${apiKey}`;
}

// Words with their trailing whitespace, so the concatenation is the exact text.
function pieces(text) {
  return text.match(/\S+\s*|\s+/g) || [];
}

function readBody(req) {
  return new Promise((resolve, reject) => {
    const chunks = [];
    let size = 0;
    req.on('data', (c) => {
      size += c.length;
      if (size > 10 * 1024 * 1024) { reject(new Error('body too large')); req.destroy(); }
      chunks.push(c);
    });
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

function lastUserText(messages) {
  for (let i = messages.length - 1; i >= 0; i--) {
    const m = messages[i];
    if (m && m.role === 'user') return typeof m.content === 'string' ? m.content : JSON.stringify(m.content);
  }
  return '';
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

async function chatCompletions(req, res) {
  let body;
  try {
    body = JSON.parse(await readBody(req));
  } catch (e) {
    return apiError(res, 400, 'request body is not valid JSON: ' + e.message, 'invalid_request_error');
  }
  if (!body || typeof body !== 'object') return apiError(res, 400, 'request body must be an object', 'invalid_request_error');
  if (!Array.isArray(body.messages) || !body.messages.length) {
    return apiError(res, 400, '`messages` must be a non-empty array', 'invalid_request_error', null, 'messages');
  }
  if (body.model !== MODEL) {
    return apiError(res, 404, `The model \`${body.model}\` does not exist`, 'invalid_request_error', 'model_not_found', 'model');
  }
  const prompt = lastUserText(body.messages).toLowerCase();
  if (prompt.includes('http error')) {
    return apiError(res, 400, 'mock: this request was refused on purpose', 'invalid_request_error', 'mock_refusal');
  }

  let answer = SHORT;
  let tool = false;
  let midError = false;
  if (prompt.includes('story') || prompt.includes('long')) answer = LONG;
  else if (prompt.includes('markdown')) answer = MARKDOWN;
  else if (prompt.includes('tool')) { answer = ''; tool = true; }
  else if (prompt.includes('midstream error')) { answer = 'This answer will break off in the middle of'; midError = true; }

  let words = pieces(answer);
  if (Number.isInteger(body.max_tokens) && body.max_tokens > 0 && words.length > body.max_tokens) {
    words = words.slice(0, body.max_tokens);
  }
  const promptTokens = body.messages.reduce((n, m) => n + pieces(String(m.content ?? '')).length + 4, 0);
  const id = 'chatcmpl-mock' + Date.now().toString(36);
  const created = Math.floor(Date.now() / 1000);

  if (!body.stream || prompt.includes('no stream')) {
    const text = words.join('');
    return json(res, 200, {
      id, object: 'chat.completion', created, model: MODEL,
      choices: [{ index: 0, message: { role: 'assistant', content: text }, finish_reason: 'stop' }],
      usage: { prompt_tokens: promptTokens, completion_tokens: words.length, total_tokens: promptTokens + words.length },
    });
  }

  res.writeHead(200, {
    'Content-Type': 'text/event-stream',
    'Cache-Control': 'no-cache',
    Connection: 'keep-alive',
    'X-Accel-Buffering': 'no',
  });
  res.flushHeaders();
  let aborted = false;
  res.on('close', () => { if (!res.writableFinished) aborted = true; });
  req.on('aborted', () => { aborted = true; });

  const withUsage = !!(body.stream_options && body.stream_options.include_usage);
  // like OpenAI (and herd), with include_usage every chunk has "usage": null but the last
  const chunk = (choices, extra) => Object.assign({
    id, object: 'chat.completion.chunk', created, model: MODEL, system_fingerprint: 'mock', choices,
  }, withUsage ? { usage: null } : {}, extra || {});
  const send = (obj) => { if (!aborted) res.write(`data: ${JSON.stringify(obj)}\n\n`); };

  send(chunk([{ index: 0, delta: { role: 'assistant', content: '' }, logprobs: null, finish_reason: null }]));
  let completion = 0;
  let finish = 'stop';

  if (tool) {
    const args = JSON.stringify({ location: 'Paris, France', unit: 'celsius' });
    const argPieces = args.match(/.{1,6}/g);
    await sleep(delayMs);
    send(chunk([{ index: 0, delta: { tool_calls: [{ index: 0, id: 'call_mock1', type: 'function', function: { name: 'get_weather', arguments: '' } }] }, logprobs: null, finish_reason: null }]));
    completion++;
    for (const p of argPieces) {
      if (aborted) break;
      await sleep(delayMs);
      send(chunk([{ index: 0, delta: { tool_calls: [{ index: 0, function: { arguments: p } }] }, logprobs: null, finish_reason: null }]));
      completion++;
    }
    finish = 'tool_calls';
  } else {
    for (const w of words) {
      if (aborted) break;
      await sleep(delayMs);
      send(chunk([{ index: 0, delta: { content: w }, logprobs: null, finish_reason: null }]));
      completion++;
    }
    if (words.length < pieces(answer).length) finish = 'length';
  }
  if (aborted) {
    console.log(`[mock] client aborted after ${completion} chunks`);
    return;
  }
  if (midError) {
    await sleep(delayMs);
    // herd ends the stream right after an error chunk, without [DONE]
    send({ error: { message: 'mock: the model fell over mid-stream', type: 'server_error', param: null, code: 'mock_midstream' } });
    res.end();
    return;
  }
  send(chunk([{ index: 0, delta: {}, logprobs: null, finish_reason: finish }]));
  if (withUsage) {
    send(chunk([], { usage: { prompt_tokens: promptTokens, completion_tokens: completion, total_tokens: promptTokens + completion } }));
  }
  res.end('data: [DONE]\n\n');
  console.log(`[mock] streamed ${completion} chunks (${finish})`);
}

const server = http.createServer(async (req, res) => {
  const url = new URL(req.url, 'http://localhost');
  console.log(`[mock] ${req.method} ${url.pathname}`);
  try {
    if (req.method === 'GET' && FILES[url.pathname]) {
      const [file, type] = FILES[url.pathname];
      const data = fs.readFileSync(path.join(assets, file));
      const headers = { 'Content-Type': type, 'Content-Length': data.length, 'Cache-Control': 'no-cache' };
      // the same policy herd sends with the page: no inline scripts or styles, no other hosts
      if (file === 'index.html') headers['Content-Security-Policy'] = CSP;
      res.writeHead(200, headers);
      return res.end(data);
    }
    if (url.pathname.startsWith('/v1/') && !authorized(req)) {
      return apiError(res, 401, 'Invalid or missing API key', 'invalid_request_error', 'invalid_api_key');
    }
    if (req.method === 'GET' && url.pathname === '/v1/models') {
      return json(res, 200, { object: 'list', data: [{ id: MODEL, object: 'model', created: 0, owned_by: 'herd' }] });
    }
    if (req.method === 'POST' && url.pathname === '/v1/chat/completions') {
      return await chatCompletions(req, res);
    }
    return apiError(res, 404, `no route for ${req.method} ${url.pathname}`, 'invalid_request_error', 'not_found');
  } catch (e) {
    console.error('[mock] error', e);
    if (!res.headersSent) apiError(res, 500, String(e && e.message || e), 'server_error');
    else res.destroy();
  }
});

server.listen(port, host, () => {
  const a = server.address();
  console.log(`[mock] listening on http://${a.address}:${a.port}${apiKey ? ' (API key required)' : ''}`);
});
for (const sig of ['SIGINT', 'SIGTERM']) process.on(sig, () => server.close(() => process.exit(0)));
