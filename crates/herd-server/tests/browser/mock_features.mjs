#!/usr/bin/env node
// Feature checks of the chat page against mock_server.mjs only (they rely on the mock's
// canned answers: Markdown, tool calls, errors, API key). Starts its own mock servers.
//
//   node mock_features.mjs [SCREENSHOT_DIR]
//
// Needs Chromium ($CHROMIUM or /usr/bin/chromium) and playwright-core (npm ci).

import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

const here = path.dirname(fileURLToPath(import.meta.url));
const shots = process.argv[2] || null;
const executablePath = process.env.CHROMIUM || '/usr/bin/chromium';
const children = [];
let browser = null;

function check(cond, message) {
  if (!cond) throw new Error(message);
}

function startMock(port, extra) {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [path.join(here, 'mock_server.mjs'), '--port', String(port), '--delay-ms', '20', ...(extra || [])], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    children.push(child);
    let out = '';
    child.stdout.on('data', (d) => {
      out += d;
      const m = /listening on (http:\/\/\S+)/.exec(out);
      if (m) resolve(m[1]);
    });
    child.on('exit', (code) => reject(new Error('mock exited with ' + code)));
  });
}

async function idle(page) {
  await page.waitForFunction(() => document.body.dataset.state === 'idle', null, { timeout: 20_000 });
}

async function ask(page, text) {
  await page.fill('#input', text);
  await page.press('#input', 'Enter');
  await page.waitForFunction(() => document.body.dataset.state === 'streaming', null, { timeout: 5000 }).catch(() => {});
  await idle(page);
}

async function shot(page, name) {
  if (shots) await page.screenshot({ path: path.join(shots, name + '.png') });
}

async function main() {
  const url = await startMock(18931);
  const keyUrl = await startMock(18932, ['--api-key', 'sekrit']);
  if (shots) fs.mkdirSync(shots, { recursive: true });
  browser = await chromium.launch({
    executablePath,
    headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
  const errors = [];
  const ctx = await browser.newContext({ viewport: { width: 1200, height: 900 } });
  const page = await ctx.newPage();
  page.on('pageerror', (e) => errors.push(String(e)));
  page.on('console', (m) => { if (m.type() === 'error' && /Content Security Policy/i.test(m.text())) errors.push('CSP: ' + m.text()); });
  const requests = [];
  page.on('request', (r) => {
    if (r.url().endsWith('/v1/chat/completions')) requests.push({ body: r.postDataJSON(), headers: r.headers() });
  });
  await page.goto(url);
  await page.waitForFunction(() => document.querySelector('#model-name').textContent === 'mock-llama');
  console.log('ok   model name shown');

  // Shift+Enter makes a newline, Enter sends
  await page.fill('#input', 'line one');
  await page.press('#input', 'Shift+Enter');
  await page.type('#input', 'line two');
  check((await page.inputValue('#input')) === 'line one\nline two', 'Shift+Enter did not insert a newline');
  await page.fill('#input', '');

  // settings go into the request
  await page.click('#settings-toggle');
  await page.fill('#system-prompt', 'Be terse.');
  await page.fill('#temperature', '0.3');
  await page.fill('#top-p', '0.5');
  await page.fill('#max-tokens', '200');
  await page.fill('#seed', '42');
  await ask(page, 'Please show some markdown');
  const req = requests[requests.length - 1].body;
  check(req.model === 'mock-llama' && req.stream === true && req.stream_options.include_usage === true, 'request lacks model/stream/stream_options: ' + JSON.stringify(req));
  check(req.temperature === 0.3 && req.top_p === 0.5 && req.max_tokens === 200 && req.seed === 42, 'sampling settings not sent: ' + JSON.stringify(req));
  check(req.messages[0].role === 'system' && req.messages[0].content === 'Be terse.', 'system prompt not sent first');
  check(req.messages[1].role === 'user', 'user message not sent');
  const settings = JSON.parse(await page.evaluate(() => localStorage.getItem('herd.settings')));
  check(settings.temperature === 0.3 && settings.seed === 42, 'settings not in localStorage herd.settings');
  console.log('ok   settings (system prompt, temperature, top_p, max_tokens, seed) sent and stored');
  await page.click('#settings-close');

  // Markdown
  const md = await page.evaluate(() => {
    const c = document.querySelector('#messages .msg.assistant:last-of-type .content');
    const q = (s) => c.querySelectorAll(s).length;
    return {
      h1: q('h1'), h2: q('h2'), h3: q('h3'), strong: q('strong'), em: q('em'), inline: q('code.inline'),
      links: Array.from(c.querySelectorAll('a')).map((a) => [a.getAttribute('href'), a.target, a.rel, a.textContent]),
      img: q('img'), ul: q('ul'), nested: q('ul ul'), olItems: q('ol > li'),
      code: (c.querySelector('pre code.language-python') || {}).textContent,
      copy: q('.code-block .copy'), quote: q('blockquote'),
      text: c.textContent,
    };
  });
  check(md.h1 === 1 && md.h2 === 1 && md.h3 === 1, 'headings: ' + JSON.stringify(md));
  check(md.strong >= 2 && md.em >= 1 && md.inline === 1, 'bold/italic/inline code: ' + JSON.stringify(md));
  check(md.links.length === 1 && md.links[0][0] === 'https://example.com/path?q=1' && md.links[0][1] === '_blank' && md.links[0][2].includes('noopener'), 'links: ' + JSON.stringify(md.links));
  check(md.text.includes('[bad link](javascript:alert(1))'), 'a javascript: link must stay text');
  check(md.img === 0 && md.text.includes('<img src=x onerror=alert(1)>'), 'HTML must stay text');
  check(md.ul >= 1 && md.nested === 1 && md.olItems === 3, 'lists: ' + JSON.stringify(md));
  check(md.code && md.code.includes('print(f"hello {name} <b>not bold</b>")'), 'code block: ' + md.code);
  check(md.copy === 1 && md.quote === 1, 'copy button / blockquote');
  const meta = await page.textContent('#messages .msg.assistant:last-of-type .meta .usage');
  check(/\d+ prompt · \d+ completion tokens · [\d.]+ tok\/s/.test(meta), 'usage line: ' + meta);
  console.log('ok   markdown rendered safely; usage line: ' + meta);
  await shot(page, 'markdown-light');

  // Copy button (clipboard permission for the test context)
  await ctx.grantPermissions(['clipboard-read', 'clipboard-write'], { origin: url });
  await page.click('#messages .code-block .copy');
  await page.waitForFunction(() => document.querySelector('#messages .code-block .copy').textContent === 'Copied!');
  const clip = await page.evaluate(() => navigator.clipboard.readText());
  check(clip.startsWith('def hello(name):'), 'clipboard: ' + clip);
  console.log('ok   code copy button');

  // tool call card
  await ask(page, 'Use a tool to get the weather');
  const tool = await page.evaluate(() => {
    const m = document.querySelector('#messages .msg.assistant:last-of-type');
    return { name: m.querySelector('.tool-call .tool-name').textContent, args: m.querySelector('.tool-call .tool-args').textContent };
  });
  check(tool.name === 'get_weather' && JSON.parse(tool.args).location === 'Paris, France', 'tool card: ' + JSON.stringify(tool));
  console.log('ok   tool call card: ' + tool.name + ' ' + tool.args.replace(/\s+/g, ' '));
  await shot(page, 'tool-light');

  // mid-stream error chunk: partial answer kept, error bubble shown
  await ask(page, 'Give me a midstream error');
  let last = await page.evaluate(() => Array.from(document.querySelectorAll('#messages .msg')).slice(-2).map((m) => [m.className, m.textContent]));
  check(last[0][0].includes('assistant') && last[0][1].includes('break off'), 'partial answer before error: ' + JSON.stringify(last));
  check(last[1][0].includes('error') && last[1][1].includes('fell over mid-stream'), 'mid-stream error bubble: ' + JSON.stringify(last));
  console.log('ok   mid-stream error shown');

  // HTTP error
  await ask(page, 'Cause an http error');
  last = await page.evaluate(() => Array.from(document.querySelectorAll('#messages .msg')).slice(-2).map((m) => [m.className, m.textContent]));
  check(last[0][0].includes('user') && last[1][0].includes('error') && last[1][1].includes('HTTP 400') && last[1][1].includes('refused on purpose'), 'HTTP error bubble: ' + JSON.stringify(last));
  console.log('ok   HTTP error shown: ' + last[1][1]);
  // the history sent next excludes error bubbles
  await ask(page, 'hello again');
  const hist = requests[requests.length - 1].body.messages.map((m) => m.role);
  check(!hist.includes('error') && hist[0] === 'system', 'history: ' + hist);
  console.log('ok   history sent: ' + hist.join(','));

  // a server that ignores "stream" and answers with one JSON object
  await ask(page, 'no stream for this one');
  const plain = await page.textContent('#messages .msg.assistant:last-of-type .content');
  check(plain.startsWith('The capital of France is Paris.'), 'non-streamed answer: ' + plain);
  console.log('ok   non-streamed JSON answer shown');

  // conversations: new, select, delete
  const firstTitle = await page.textContent('#conversations .conv.active .conv-name');
  await page.click('#new-chat');
  check((await page.locator('#messages .msg').count()) === 0, 'new chat is not empty');
  await ask(page, 'Second conversation here');
  check((await page.locator('#conversations .conv').count()) === 2, 'expected 2 conversations');
  await page.click('#new-chat');
  await page.click('#new-chat'); // a second click reuses the empty one
  check((await page.locator('#conversations .conv').count()) === 3, 'empty conversations pile up');
  await page.locator('#conversations .conv', { hasText: firstTitle }).click();
  check((await page.locator('#messages .msg.user').count()) === 6, 'selecting the first conversation');
  check((await page.inputValue('#system-prompt')) === 'Be terse.', 'per-conversation system prompt');
  await page.locator('#conversations .conv', { hasText: 'Second conversation' }).locator('.conv-delete').click();
  check((await page.locator('#conversations .conv', { hasText: 'Second conversation' }).count()) === 0, 'delete did not remove');
  const stored = JSON.parse(await page.evaluate(() => localStorage.getItem('herd.conversations')));
  check(stored.length === 2 && !stored.some((c) => c.title.includes('Second')), 'localStorage after delete: ' + stored.length);
  console.log('ok   conversations new/select/delete, stored in herd.conversations');

  // dark mode + narrow screen screenshots
  await page.emulateMedia({ colorScheme: 'dark' });
  await page.locator('#conversations .conv', { hasText: firstTitle }).click();
  await shot(page, 'dark');
  const bg = await page.evaluate(() => getComputedStyle(document.body).backgroundColor);
  check(bg !== 'rgb(247, 247, 248)', 'dark mode not applied');
  await page.setViewportSize({ width: 390, height: 800 });
  await page.waitForTimeout(300);
  await shot(page, 'narrow');
  await page.click('#sidebar-toggle');
  await page.waitForTimeout(300);
  await shot(page, 'narrow-sidebar');
  console.log('ok   dark mode and narrow layout');

  // API key: 401 -> ask for the key, then it works with Authorization: Bearer
  const p2 = await ctx.newPage();
  p2.on('pageerror', (e) => errors.push(String(e)));
  const auth = [];
  p2.on('request', (r) => { if (r.url().includes('/v1/')) auth.push(r.headers().authorization || null); });
  await p2.goto(keyUrl);
  await p2.waitForFunction(() => document.querySelector('#model-name').textContent === 'API key needed');
  check(await p2.isVisible('#api-key'), 'the API key field is not shown after a 401');
  await p2.fill('#input', 'hi');
  await p2.press('#input', 'Enter');
  await idle(p2);
  const err = await p2.textContent('#messages .msg.error');
  check(err.includes('401') && err.includes('API key'), '401 bubble: ' + err);
  await shot(p2, 'api-key');
  await p2.fill('#api-key', 'sekrit');
  await p2.waitForFunction(() => document.querySelector('#model-name').textContent === 'mock-llama');
  await ask(p2, 'hi again');
  check((await p2.locator('#messages .msg.assistant').count()) === 1, 'no answer with the API key');
  check(auth[auth.length - 1] === 'Bearer sekrit', 'Authorization header: ' + auth[auth.length - 1]);
  check((await p2.evaluate(() => localStorage.getItem('herd.apiKey'))) === 'sekrit', 'key not stored in herd.apiKey');
  console.log('ok   401 asks for an API key; it is stored and sent as Bearer');

  check(!errors.length, 'uncaught page errors: ' + errors.join('\n'));
  console.log('OK: all feature checks passed');
}

main().then(
  async () => { if (browser) await browser.close(); children.forEach((c) => c.kill()); process.exit(0); },
  async (e) => {
    console.error('FAIL ' + (e && e.stack || e));
    if (browser) await browser.close().catch(() => {});
    children.forEach((c) => c.kill());
    process.exit(1);
  },
);
