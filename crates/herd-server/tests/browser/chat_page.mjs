#!/usr/bin/env node
// Browser test of the chat page served at `/` by `herd serve` (or by mock_server.mjs).
//
//   cd crates/herd-server/tests/browser && npm ci   # once: installs playwright-core
//   node chat_page.mjs http://127.0.0.1:8080
//
// Needs a Chromium binary: $CHROMIUM, else /usr/bin/chromium. Exits 0 when every step
// passes, 1 on the first failure (with a message saying what went wrong), 2 on bad usage.
//   1. a question gets a streamed answer (the answer is seen growing while streaming)
//   2. a long answer can be stopped: back to idle within 5 s, the partial text stays
//      and does not grow any more
//   3. after a reload the conversation and all its messages are restored

import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { chromium } from 'playwright-core';

const OVERALL_TIMEOUT_MS = 120_000;
const Q1 = 'What is the capital of France?';
const Q2 = 'Write a long story about a dragon.';

const base = process.argv[2] || process.env.HERD_URL;
if (!base || !/^https?:\/\//.test(base)) {
  console.error('usage: node chat_page.mjs BASE_URL   (e.g. http://127.0.0.1:8080)');
  process.exit(2);
}
const pageUrl = new URL('/', base).href;
const executablePath = process.env.CHROMIUM || '/usr/bin/chromium';

let context = null;
let page = null;
let userDataDir = null;
const pageErrors = [];
const consoleLines = [];

class StepFailure extends Error {}
function fail(message) {
  throw new StepFailure(message);
}

function cleanup() {
  if (userDataDir) {
    try { fs.rmSync(userDataDir, { recursive: true, force: true }); } catch { /* ignore */ }
  }
}

async function diagnostics() {
  if (!page) return;
  try {
    const d = await page.evaluate(() => ({
      state: document.body && document.body.dataset.state,
      model: (document.querySelector('#model-name') || {}).textContent,
      messages: Array.from(document.querySelectorAll('#messages .msg')).map((m) => ({
        cls: m.className,
        text: ((m.querySelector('.content') || m).textContent || '').replace(/\s+/g, ' ').slice(0, 200),
      })),
      conversations: Array.from(document.querySelectorAll('#conversations .conv')).map((c) => c.textContent.trim()),
    }));
    console.error('  page state: ' + JSON.stringify(d, null, 2).replace(/\n/g, '\n  '));
  } catch (e) {
    console.error('  (could not read the page: ' + e.message + ')');
  }
  if (consoleLines.length) console.error('  browser console:\n    ' + consoleLines.slice(-20).join('\n    '));
}

async function finish(code, message) {
  if (message) console.error(message);
  if (code !== 0) await diagnostics();
  if (context) {
    await Promise.race([context.close().catch(() => {}), new Promise((r) => setTimeout(r, 5000))]);
  }
  cleanup();
  process.exit(code);
}

const overall = setTimeout(() => {
  finish(1, `FAIL: the test did not finish within ${OVERALL_TIMEOUT_MS / 1000} s`);
}, OVERALL_TIMEOUT_MS);

// ---------------------------------------------------------------- page helpers

// Records the length of the newest assistant answer and the page state on every DOM
// change under #messages, so a stream is seen even when it is fast.
async function startRecorder() {
  await page.evaluate(() => {
    if (window.__herdRecorder) window.__herdRecorder.disconnect();
    window.__herdSamples = [];
    const sample = () => {
      const all = document.querySelectorAll('#messages .msg.assistant .content');
      const last = all[all.length - 1];
      window.__herdSamples.push({
        t: performance.now(),
        state: document.body.dataset.state,
        count: all.length,
        len: last ? last.textContent.length : 0,
      });
    };
    window.__herdRecorder = new MutationObserver(sample);
    window.__herdRecorder.observe(document.querySelector('#messages'), {
      subtree: true, childList: true, characterData: true,
    });
    sample();
  });
}

async function stopRecorder() {
  return page.evaluate(() => {
    if (window.__herdRecorder) window.__herdRecorder.disconnect();
    window.__herdRecorder = null;
    return window.__herdSamples || [];
  });
}

async function snapshot() {
  return page.evaluate(() => {
    const norm = (s) => (s || '').replace(/\s+/g, ' ').trim();
    return {
      state: document.body.dataset.state,
      user: Array.from(document.querySelectorAll('#messages .msg.user')).map((m) => norm((m.querySelector('.content') || m).textContent)),
      assistant: Array.from(document.querySelectorAll('#messages .msg.assistant')).map((m) => ({
        text: norm((m.querySelector('.content') || {}).textContent),
        stopped: m.classList.contains('stopped'),
      })),
      errors: Array.from(document.querySelectorAll('#messages .msg.error')).map((m) => norm((m.querySelector('.content') || m).textContent)),
    };
  });
}

async function expectNoErrorBubbles(where) {
  const s = await snapshot();
  if (s.errors.length) fail(`${where}: the page shows an error bubble: ${s.errors.join(' | ')}`);
  return s;
}

async function sendMessage(text) {
  await page.fill('#input', text).catch((e) => fail(`cannot type into #input: ${e.message}`));
  await page.click('#send', { timeout: 5000 }).catch((e) => fail(`cannot click #send: ${e.message}`));
}

// Sets max_tokens through the settings panel, so a chatty model cannot run the first
// answer past the time budget and the story is long enough to be stopped.
async function setMaxTokens(n) {
  try {
    if (!(await page.isVisible('#max-tokens'))) await page.click('#settings-toggle');
    await page.fill('#max-tokens', String(n));
    await page.click('#settings-toggle');
  } catch (e) {
    fail(`cannot set max_tokens in the settings panel (#settings-toggle, #max-tokens): ${e.message.split('\n')[0]}`);
  }
}

async function waitIdle(timeout, what) {
  const t0 = Date.now();
  try {
    await page.waitForFunction(() => document.body.dataset.state === 'idle', null, { timeout, polling: 50 });
  } catch {
    fail(`${what}: body[data-state] did not return to "idle" within ${timeout / 1000} s`);
  }
  return Date.now() - t0;
}

// ---------------------------------------------------------------- steps

async function step1() {
  await setMaxTokens(128);
  await startRecorder();
  await sendMessage(Q1);
  await waitIdle(60_000, 'step 1 (streamed answer)');
  const samples = await stopRecorder();
  const s = await expectNoErrorBubbles('step 1');
  if (s.assistant.length < 1) fail('step 1: no assistant message (.msg.assistant) appeared');
  const answer = s.assistant[s.assistant.length - 1].text;
  if (!answer) fail('step 1: the assistant answer (.msg.assistant .content) is empty after the stream ended');
  if (!s.user.includes(Q1)) fail(`step 1: the question is not shown as a .msg.user bubble (got ${JSON.stringify(s.user)})`);
  const live = samples.filter((x) => x.state === 'streaming' && x.len > 0);
  if (!live.length) {
    fail('step 1: the answer never had text while body[data-state] was "streaming" '
      + '(it only appeared after the stream ended)');
  }
  const lengths = [...new Set(live.map((x) => x.len))];
  if (lengths.length < 2) {
    fail(`step 1: no streaming seen: while streaming the answer had only one length (${lengths[0]} chars); `
      + 'it should grow as chunks arrive');
  }
  const model = await page.textContent('#model-name').catch(() => '?');
  console.log(`PASS step 1: streamed answer (${answer.length} chars, seen at ${lengths.length} lengths while streaming, `
    + `model ${JSON.stringify((model || '').trim())}): ${JSON.stringify(answer.slice(0, 60))}`);
  return answer;
}

async function step2() {
  const before = (await snapshot()).assistant.length;
  await setMaxTokens(1024);
  await startRecorder();
  await sendMessage(Q2);
  let handle;
  try {
    handle = await page.waitForFunction((n) => {
      const state = document.body.dataset.state;
      const all = document.querySelectorAll('#messages .msg.assistant .content');
      const len = all.length > n ? all[all.length - 1].textContent.trim().length : 0;
      if (state === 'streaming' && len >= 20) return { streaming: true, len };
      if (state !== 'streaming') return { streaming: false, len };
      return false;
    }, before, { timeout: 60_000, polling: 20 });
  } catch {
    fail('step 2: no text of the long answer arrived within 60 s');
  }
  const seen = await handle.jsonValue();
  if (!seen.streaming) {
    await expectNoErrorBubbles('step 2');
    fail(`step 2: the answer ended (${seen.len} chars) before Stop could be clicked; the test needs a longer answer`);
  }
  await page.click('#stop', { timeout: 3000 }).catch((e) => {
    fail(`step 2: cannot click #stop while streaming (did the answer just end?): ${e.message.split('\n')[0]}`);
  });
  const ms = await waitIdle(5_000, 'step 2 (after Stop)');
  const s1 = await expectNoErrorBubbles('step 2');
  if (s1.assistant.length !== before + 1) {
    fail(`step 2: expected ${before + 1} assistant messages after Stop, found ${s1.assistant.length} (was the partial answer dropped?)`);
  }
  const partial = s1.assistant[s1.assistant.length - 1];
  if (!partial.text) fail('step 2: the partial answer disappeared after Stop');
  if (!partial.stopped) fail('step 2: the answer is not marked as stopped (.msg.assistant.stopped); did it finish on its own?');
  await page.waitForTimeout(1000);
  const s2 = await snapshot();
  const later = s2.assistant[s2.assistant.length - 1];
  if (!later || later.text !== partial.text) {
    fail(`step 2: the answer kept changing after Stop (${partial.text.length} chars, 1 s later ${later ? later.text.length : 0})`);
  }
  if (s2.state !== 'idle') fail(`step 2: body[data-state] is "${s2.state}" 1 s after Stop`);
  const samples = await stopRecorder();
  const grew = new Set(samples.filter((x) => x.state === 'streaming' && x.len > 0).map((x) => x.len)).size;
  console.log(`PASS step 2: stopped after ${partial.text.length} chars (idle ${ms} ms after Stop, `
    + `${grew} lengths seen while streaming, unchanged 1 s later)`);
  return partial.text;
}

async function step3(answer1, answer2) {
  await page.reload({ waitUntil: 'load' });
  try {
    await page.waitForSelector('#conversations .conv', { timeout: 10_000 });
  } catch {
    fail('step 3: after reload #conversations has no .conv item');
  }
  const convs = page.locator('#conversations .conv', { hasText: 'capital of France' });
  const n = await convs.count();
  if (n < 1) {
    const titles = await page.locator('#conversations .conv').allTextContents();
    fail(`step 3: after reload no conversation in #conversations mentions "capital of France" (items: ${JSON.stringify(titles)})`);
  }
  await convs.first().click();
  try {
    await page.waitForFunction(() => document.querySelectorAll('#messages .msg.user').length >= 2, null, { timeout: 5000 });
  } catch {
    const s = await snapshot();
    fail(`step 3: after reload the conversation shows ${s.user.length} user messages, expected 2`);
  }
  const s = await snapshot();
  if (s.state !== 'idle') fail(`step 3: after reload body[data-state] is "${s.state}", expected "idle"`);
  if (s.user.length !== 2 || s.user[0] !== Q1 || s.user[1] !== Q2) {
    fail(`step 3: restored user messages differ: ${JSON.stringify(s.user)}`);
  }
  if (s.assistant.length !== 2) fail(`step 3: restored ${s.assistant.length} assistant messages, expected 2`);
  if (s.assistant[0].text !== answer1) {
    fail(`step 3: the first answer differs after reload:\n  before: ${JSON.stringify(answer1)}\n  after:  ${JSON.stringify(s.assistant[0].text)}`);
  }
  if (s.assistant[1].text !== answer2) {
    fail(`step 3: the stopped answer differs after reload:\n  before: ${JSON.stringify(answer2)}\n  after:  ${JSON.stringify(s.assistant[1].text)}`);
  }
  console.log(`PASS step 3: after reload the conversation (${n} matching in #conversations) has both questions and both answers`);
}

// ---------------------------------------------------------------- main

async function main() {
  if (!fs.existsSync(executablePath)) {
    fail(`no Chromium at ${executablePath} (set CHROMIUM=/path/to/chromium or install it)`);
  }
  userDataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'herd-chat-test-'));
  try {
    context = await chromium.launchPersistentContext(userDataDir, {
      executablePath,
      headless: true,
      timeout: 30_000,
      viewport: { width: 1200, height: 850 },
      args: [
        '--no-sandbox',
        '--disable-gpu',
        '--disable-quic',
        '--no-first-run',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-sync',
      ],
    });
  } catch (e) {
    fail(`cannot launch Chromium (${executablePath}): ${e.message.split('\n')[0]}`);
  }
  page = context.pages()[0] || (await context.newPage());
  page.setDefaultTimeout(15_000);
  page.on('pageerror', (e) => pageErrors.push(String(e && e.stack || e)));
  page.on('console', (m) => {
    consoleLines.push(`[${m.type()}] ${m.text()}`);
    // the server's Content-Security-Policy must not block anything the page does
    if (m.type() === 'error' && /Content Security Policy/i.test(m.text())) pageErrors.push('CSP: ' + m.text());
  });

  let resp;
  try {
    resp = await page.goto(pageUrl, { waitUntil: 'load', timeout: 20_000 });
  } catch (e) {
    fail(`cannot open ${pageUrl}: ${e.message.split('\n')[0]}`);
  }
  if (!resp || !resp.ok()) fail(`GET ${pageUrl} answered HTTP ${resp ? resp.status() : '?'}`);
  for (const sel of ['#input', '#send', '#stop', '#new-chat', '#messages', '#conversations']) {
    if (!(await page.$(sel))) fail(`the page has no ${sel} element`);
  }
  if ((await page.getAttribute('body', 'data-state')) !== 'idle') fail('body[data-state] is not "idle" after load');

  const answer1 = await step1();
  const answer2 = await step2();
  await step3(answer1, answer2);
  if (pageErrors.length) fail('uncaught errors in the page:\n  ' + pageErrors.join('\n  '));
  console.log('OK: all 3 steps passed');
}

main().then(
  () => { clearTimeout(overall); return finish(0); },
  (e) => {
    clearTimeout(overall);
    const msg = e instanceof StepFailure ? e.message : (e && e.stack) || String(e);
    const extra = pageErrors.length ? '\n  uncaught page errors:\n    ' + pageErrors.join('\n    ') : '';
    return finish(1, 'FAIL ' + msg + extra);
  },
);
