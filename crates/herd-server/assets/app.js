// herd chat page: plain ES2020, no dependencies. Model output and user text are
// untrusted: they only ever reach the DOM through textContent / createTextNode and
// the hand-written Markdown renderer below, which builds elements node by node.
'use strict';

(function () {
  const KEY_CONVS = 'herd.conversations';
  const KEY_SETTINGS = 'herd.settings';
  const KEY_API = 'herd.apiKey';
  const KEY_SELECTED = 'herd.selected';

  const DEFAULT_SETTINGS = {
    temperature: 0.7,
    top_p: 0.95,
    max_tokens: 1024,
    seed: null,
    system: '', // default system prompt for new conversations
  };

  const $ = (sel) => document.querySelector(sel);
  const els = {
    body: document.body,
    messages: $('#messages'),
    input: $('#input'),
    send: $('#send'),
    stop: $('#stop'),
    composer: $('#composer'),
    newChat: $('#new-chat'),
    convs: $('#conversations'),
    convTitle: $('#conv-title'),
    modelName: $('#model-name'),
    settings: $('#settings'),
    settingsToggle: $('#settings-toggle'),
    settingsClose: $('#settings-close'),
    settingsReset: $('#settings-reset'),
    system: $('#system-prompt'),
    temperature: $('#temperature'),
    topP: $('#top-p'),
    maxTokens: $('#max-tokens'),
    seed: $('#seed'),
    apiKey: $('#api-key'),
    apiKeyField: $('#api-key-field'),
    apiKeyHint: $('#api-key-hint'),
    sidebarToggle: $('#sidebar-toggle'),
    backdrop: $('#sidebar-backdrop'),
  };

  // ---------------------------------------------------------------- storage

  function loadJSON(key, fallback) {
    try {
      const raw = localStorage.getItem(key);
      return raw == null ? fallback : JSON.parse(raw);
    } catch (e) {
      console.warn('herd: cannot read', key, e);
      return fallback;
    }
  }

  function saveJSON(key, value) {
    try {
      localStorage.setItem(key, JSON.stringify(value));
    } catch (e) {
      console.warn('herd: cannot save', key, e);
    }
  }

  function uid() {
    if (window.crypto && crypto.randomUUID) return crypto.randomUUID();
    return Date.now().toString(36) + Math.random().toString(36).slice(2);
  }

  function sanitizeConversations(list) {
    if (!Array.isArray(list)) return [];
    return list
      .filter((c) => c && typeof c === 'object' && typeof c.id === 'string')
      .map((c) => ({
        id: c.id,
        title: typeof c.title === 'string' ? c.title : '',
        system: typeof c.system === 'string' ? c.system : '',
        created: Number(c.created) || Date.now(),
        updated: Number(c.updated) || Date.now(),
        messages: Array.isArray(c.messages)
          ? c.messages.filter((m) => m && typeof m.role === 'string').map((m) => {
            if (typeof m.content !== 'string') m.content = m.content == null ? '' : String(m.content);
            return m;
          })
          : [],
      }));
  }

  let conversations = sanitizeConversations(loadJSON(KEY_CONVS, []));
  let settings = Object.assign({}, DEFAULT_SETTINGS, loadJSON(KEY_SETTINGS, {}) || {});
  let apiKey = '';
  try { apiKey = localStorage.getItem(KEY_API) || ''; } catch (e) { /* ignore */ }
  let selectedId = loadJSON(KEY_SELECTED, null);

  let saveTimer = null;
  function saveConversations() {
    if (saveTimer) { clearTimeout(saveTimer); saveTimer = null; }
    saveJSON(KEY_CONVS, conversations);
    saveJSON(KEY_SELECTED, selectedId);
  }
  function saveConversationsSoon() {
    if (!saveTimer) saveTimer = setTimeout(saveConversations, 500);
  }

  function newConversation() {
    const now = Date.now();
    const c = { id: uid(), title: '', system: settings.system || '', created: now, updated: now, messages: [] };
    conversations.unshift(c);
    return c;
  }

  function currentConv() {
    return conversations.find((c) => c.id === selectedId) || null;
  }

  // ---------------------------------------------------------------- state

  let modelId = null;
  let modelPromise = null;
  let streaming = null; // { convId, msg, controller, el }

  function setState(state) {
    els.body.dataset.state = state;
    const busy = state === 'streaming';
    els.send.disabled = busy;
    els.stop.disabled = !busy;
  }

  // ---------------------------------------------------------------- API

  function authHeaders(extra) {
    const h = Object.assign({}, extra || {});
    if (apiKey) h.Authorization = 'Bearer ' + apiKey;
    return h;
  }

  class ApiError extends Error {
    constructor(message, status, info) {
      super(message);
      this.name = 'ApiError';
      this.status = status;
      this.info = info || null;
    }
  }

  async function errorFromResponse(res) {
    let text = '';
    try { text = await res.text(); } catch (e) { /* ignore */ }
    let info = null;
    try {
      const j = JSON.parse(text);
      if (j && typeof j.error === 'object' && j.error) info = j.error;
      else if (j && typeof j.error === 'string') info = { message: j.error };
      else if (j && typeof j.message === 'string') info = { message: j.message };
    } catch (e) { /* not JSON */ }
    let message = info && typeof info.message === 'string' && info.message ? info.message : text.trim().slice(0, 500);
    if (!message) message = res.statusText || 'request failed';
    return new ApiError(message, res.status, info);
  }

  function needApiKey() {
    els.apiKeyHint.hidden = false;
    els.apiKeyField.classList.add('attention');
    openSettings();
    els.apiKey.focus();
  }

  function loadModel() {
    if (modelPromise) return modelPromise;
    els.modelName.textContent = 'loading model…';
    els.modelName.classList.remove('bad');
    modelPromise = (async () => {
      const res = await fetch('/v1/models', { headers: authHeaders() });
      if (!res.ok) throw await errorFromResponse(res);
      const j = await res.json();
      const first = j && Array.isArray(j.data) && j.data[0];
      if (!first || typeof first.id !== 'string') throw new ApiError('the server lists no model', res.status);
      modelId = first.id;
      els.modelName.textContent = modelId;
      els.modelName.title = 'Model: ' + modelId;
      return modelId;
    })();
    modelPromise.catch((e) => {
      modelPromise = null;
      modelId = null;
      els.modelName.classList.add('bad');
      if (e && e.status === 401) {
        els.modelName.textContent = 'API key needed';
        needApiKey();
      } else {
        els.modelName.textContent = 'model unavailable';
        els.modelName.title = String(e && e.message ? e.message : e);
      }
    });
    return modelPromise;
  }

  function numberOrNull(v) {
    if (v === '' || v == null) return null;
    const n = Number(v);
    return Number.isFinite(n) ? n : null;
  }

  function buildRequestMessages(conv, upTo) {
    const out = [];
    if (conv.system && conv.system.trim()) out.push({ role: 'system', content: conv.system });
    for (const m of conv.messages) {
      if (m === upTo) break;
      if (m.role === 'user') out.push({ role: 'user', content: m.content });
      else if (m.role === 'assistant' && m.content) out.push({ role: 'assistant', content: m.content });
      // error bubbles and empty assistant turns (tool calls only) are not sent back
    }
    return out;
  }

  // Incremental SSE parser (https://html.spec.whatwg.org/multipage/server-sent-events.html):
  // feed() takes decoded text, calls onData(dataString) for each event with data.
  function sseParser(onData) {
    let buf = '';
    let data = [];
    function line(l) {
      if (l.endsWith('\r')) l = l.slice(0, -1);
      if (l === '') {
        if (data.length) { const d = data.join('\n'); data = []; onData(d); }
        return;
      }
      if (l[0] === ':') return; // comment / keep-alive
      const i = l.indexOf(':');
      const field = i < 0 ? l : l.slice(0, i);
      let value = i < 0 ? '' : l.slice(i + 1);
      if (value[0] === ' ') value = value.slice(1);
      if (field === 'data') data.push(value);
    }
    return {
      feed(text) {
        buf += text;
        let nl;
        while ((nl = buf.indexOf('\n')) >= 0) {
          const l = buf.slice(0, nl);
          buf = buf.slice(nl + 1);
          line(l);
        }
      },
      end() {
        if (buf) { line(buf); buf = ''; }
        line('');
      },
    };
  }

  function mergeToolCalls(msg, deltas) {
    if (!msg.tool_calls) msg.tool_calls = [];
    if (!msg._tcIndex) Object.defineProperty(msg, '_tcIndex', { value: new Map(), enumerable: false });
    for (const tc of deltas) {
      if (!tc || typeof tc !== 'object') continue;
      const idx = typeof tc.index === 'number' ? tc.index : msg.tool_calls.length;
      let t = msg._tcIndex.has(idx) ? msg.tool_calls[msg._tcIndex.get(idx)] : null;
      if (t && tc.id && t.id && tc.id !== t.id) t = null; // a new call reusing the index
      if (!t) {
        t = { index: idx, id: '', type: 'function', function: { name: '', arguments: '' } };
        msg.tool_calls.push(t);
        msg._tcIndex.set(idx, msg.tool_calls.length - 1);
      }
      if (typeof tc.id === 'string' && tc.id) t.id = tc.id;
      if (typeof tc.type === 'string' && tc.type) t.type = tc.type;
      const f = tc.function;
      if (f && typeof f === 'object') {
        if (typeof f.name === 'string' && f.name) {
          if (!t.function.name) t.function.name = f.name;
          else if (f.name !== t.function.name) t.function.name += f.name;
        }
        if (typeof f.arguments === 'string') t.function.arguments += f.arguments;
        else if (f.arguments && typeof f.arguments === 'object') t.function.arguments += JSON.stringify(f.arguments);
      }
    }
  }

  async function runCompletion(conv, msg) {
    const controller = new AbortController();
    streaming = { convId: conv.id, msg, controller, el: null };
    setState('streaming');
    renderSidebar();
    renderConversation();
    scrollToBottom();

    const t0 = performance.now();
    let tFirst = null;
    let deltas = 0;
    let gotDone = false;
    let errorInfo = null;

    const touch = () => {
      if (tFirst == null) tFirst = performance.now();
      deltas++;
    };

    try {
      const model = await loadModel();
      const req = {
        model,
        messages: buildRequestMessages(conv, msg),
        stream: true,
        stream_options: { include_usage: true },
      };
      const temperature = numberOrNull(settings.temperature);
      const topP = numberOrNull(settings.top_p);
      const maxTokens = numberOrNull(settings.max_tokens);
      const seed = numberOrNull(settings.seed);
      if (temperature != null) req.temperature = temperature;
      if (topP != null) req.top_p = topP;
      if (maxTokens != null) req.max_tokens = Math.round(maxTokens);
      if (seed != null) req.seed = Math.round(seed);

      const res = await fetch('/v1/chat/completions', {
        method: 'POST',
        headers: authHeaders({ 'Content-Type': 'application/json', Accept: 'text/event-stream' }),
        body: JSON.stringify(req),
        signal: controller.signal,
      });
      if (!res.ok) throw await errorFromResponse(res);
      if (!res.body) throw new ApiError('the response has no body', res.status);
      msg.model = model;

      const parser = sseParser((data) => {
        if (gotDone) return;
        if (data.trim() === '[DONE]') { gotDone = true; return; }
        let obj;
        try { obj = JSON.parse(data); } catch (e) { console.warn('herd: bad SSE data', data); return; }
        if (!obj || typeof obj !== 'object') return;
        if (obj.error) {
          errorInfo = typeof obj.error === 'object' ? obj.error : { message: String(obj.error) };
          return;
        }
        if (obj.usage && typeof obj.usage === 'object') msg.usage = obj.usage;
        if (!Array.isArray(obj.choices)) return;
        for (const ch of obj.choices) {
          if (!ch || (ch.index != null && ch.index !== 0)) continue;
          const d = ch.delta || {};
          if (typeof d.content === 'string' && d.content) {
            msg.content += d.content;
            touch();
          }
          if (Array.isArray(d.tool_calls) && d.tool_calls.length) {
            mergeToolCalls(msg, d.tool_calls);
            touch();
          }
          if (ch.finish_reason) msg.finish_reason = ch.finish_reason;
        }
      });

      const ctype = (res.headers.get('content-type') || '').toLowerCase();
      if (ctype.includes('application/json')) {
        // a server that ignored "stream": one chat.completion object
        const j = await res.json();
        if (j && j.error) {
          errorInfo = typeof j.error === 'object' ? j.error : { message: String(j.error) };
        } else {
          const ch = j && Array.isArray(j.choices) ? j.choices[0] : null;
          const m = (ch && ch.message) || {};
          if (typeof m.content === 'string') msg.content = m.content;
          if (Array.isArray(m.tool_calls) && m.tool_calls.length) mergeToolCalls(msg, m.tool_calls);
          if (ch && ch.finish_reason) msg.finish_reason = ch.finish_reason;
          if (j && j.usage) msg.usage = j.usage;
          touch();
        }
        gotDone = true;
      }

      const reader = gotDone ? null : res.body.getReader();
      const decoder = new TextDecoder();
      while (reader && !gotDone) {
        const { value, done } = await reader.read();
        if (done) break;
        parser.feed(decoder.decode(value, { stream: true }));
        if (streaming && streaming.msg === msg) {
          if (streaming.el) streaming.el.dataset.chunks = String(deltas);
          updateStreamingView();
        }
        saveConversationsSoon();
        if (gotDone) { try { await reader.cancel(); } catch (e) { /* ignore */ } break; }
      }
      parser.feed(decoder.decode());
      parser.end();
    } catch (e) {
      if (e && e.name === 'AbortError') {
        msg.stopped = true;
      } else if (e instanceof ApiError) {
        errorInfo = Object.assign({}, e.info || {}, { message: e.message, status: e.status });
        if (e.status === 401) needApiKey();
      } else {
        errorInfo = { message: 'Network error: ' + (e && e.message ? e.message : String(e)) };
      }
    }

    const tEnd = performance.now();
    msg.stats = {
      elapsed_ms: Math.round(tEnd - t0),
      ttft_ms: tFirst == null ? null : Math.round(tFirst - t0),
      gen_ms: tFirst == null ? null : Math.round(tEnd - tFirst),
      deltas,
    };
    if (!msg.content && !(msg.tool_calls && msg.tool_calls.length) && (errorInfo || msg.stopped)) {
      const i = conv.messages.indexOf(msg);
      if (i >= 0) conv.messages.splice(i, 1);
    }
    if (errorInfo) {
      let text = errorInfo.message || 'unknown error';
      if (errorInfo.status === 401) text += ' — enter an API key in Settings and send again.';
      conv.messages.push({
        role: 'error',
        content: text,
        status: errorInfo.status || null,
        type: errorInfo.type || null,
        code: errorInfo.code || null,
      });
    }
    conv.updated = Date.now();
    streaming = null;
    saveConversations();
    setState('idle');
    renderSidebar();
    if (selectedId === conv.id) {
      renderConversation();
      scrollToBottom();
    }
  }

  // ---------------------------------------------------------------- Markdown

  function h(tag, cls, text) {
    const e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text != null) e.textContent = text;
    return e;
  }

  function safeHref(url) {
    try {
      const u = new URL(url);
      if (u.protocol === 'http:' || u.protocol === 'https:') return u.href;
    } catch (e) { /* relative or invalid */ }
    return null;
  }

  const INLINE_RE = new RegExp([
    '\\\\(?<esc>[\\\\`*_{}\\[\\]()#+\\-.!>~|])',
    '(?<ticks>`+)(?<code>[^`]|[^`][\\s\\S]*?[^`])\\k<ticks>(?!`)',
    '\\[(?<ltext>[^\\]\\n]+)\\]\\(\\s*<?(?<lurl>[^)\\s>]+)>?(?:\\s+"[^"\\n]*")?\\s*\\)',
    '\\*\\*\\*(?=\\S)(?<bi>[\\s\\S]*?\\S)\\*\\*\\*',
    '\\*\\*(?=\\S)(?<b1>[\\s\\S]*?\\S)\\*\\*',
    '(?<![\\w])__(?=\\S)(?<b2>[\\s\\S]*?\\S)__(?![\\w])',
    '\\*(?=[^\\s*])(?<i1>[\\s\\S]*?[^\\s*])\\*',
    '(?<![\\w])_(?=[^\\s_])(?<i2>[\\s\\S]*?[^\\s_])_(?![\\w])',
    '~~(?=\\S)(?<del>[\\s\\S]*?\\S)~~',
    '(?<auto>https?:\\/\\/[^\\s<>"\'`]*[^\\s<>"\'`.,;:!?)\\]}*_])',
  ].join('|'), 'g');

  function renderInline(text, parent, depth) {
    depth = depth || 0;
    if (depth > 8) { parent.appendChild(document.createTextNode(text)); return; }
    const re = new RegExp(INLINE_RE.source, 'g');
    let last = 0;
    let m;
    while ((m = re.exec(text))) {
      if (m.index > last) parent.appendChild(document.createTextNode(text.slice(last, m.index)));
      const g = m.groups;
      if (g.esc != null) {
        parent.appendChild(document.createTextNode(g.esc));
      } else if (g.code != null) {
        let c = g.code;
        if (/^ .* $/.test(c) && c.trim()) c = c.slice(1, -1);
        parent.appendChild(h('code', 'inline', c));
      } else if (g.ltext != null) {
        const href = safeHref(g.lurl);
        if (href) {
          const a = h('a');
          a.href = href;
          a.target = '_blank';
          a.rel = 'noopener noreferrer';
          a.title = href;
          renderInline(g.ltext, a, depth + 1);
          parent.appendChild(a);
        } else {
          parent.appendChild(document.createTextNode(m[0]));
        }
      } else if (g.bi != null) {
        const s = h('strong');
        const em = h('em');
        renderInline(g.bi, em, depth + 1);
        s.appendChild(em);
        parent.appendChild(s);
      } else if (g.b1 != null || g.b2 != null) {
        const s = h('strong');
        renderInline(g.b1 != null ? g.b1 : g.b2, s, depth + 1);
        parent.appendChild(s);
      } else if (g.i1 != null || g.i2 != null) {
        const s = h('em');
        renderInline(g.i1 != null ? g.i1 : g.i2, s, depth + 1);
        parent.appendChild(s);
      } else if (g.del != null) {
        const s = h('del');
        renderInline(g.del, s, depth + 1);
        parent.appendChild(s);
      } else if (g.auto != null) {
        let url = g.auto;
        // keep a closing parenthesis that balances one inside the URL: .../Foo_(bar)
        while (text[re.lastIndex] === ')' && (url.split('(').length > url.split(')').length)) {
          url += ')';
          re.lastIndex++;
        }
        const href = safeHref(url);
        if (href) {
          const a = h('a', null, url);
          a.href = href;
          a.target = '_blank';
          a.rel = 'noopener noreferrer';
          parent.appendChild(a);
        } else {
          parent.appendChild(document.createTextNode(url));
        }
      }
      last = re.lastIndex;
    }
    if (last < text.length) parent.appendChild(document.createTextNode(text.slice(last)));
  }

  function copyText(text) {
    if (navigator.clipboard && window.isSecureContext) {
      return navigator.clipboard.writeText(text).catch(() => legacyCopy(text));
    }
    return Promise.resolve(legacyCopy(text));
  }

  function legacyCopy(text) {
    const ta = document.createElement('textarea');
    ta.value = text;
    ta.setAttribute('readonly', '');
    ta.style.position = 'fixed';
    ta.style.top = '-1000px';
    document.body.appendChild(ta);
    ta.select();
    let ok = false;
    try { ok = document.execCommand('copy'); } catch (e) { ok = false; }
    ta.remove();
    if (!ok) throw new Error('copy failed');
  }

  function copyButton(getText, label) {
    const b = h('button', 'copy', label || 'Copy');
    b.type = 'button';
    b.addEventListener('click', () => {
      Promise.resolve()
        .then(() => copyText(getText()))
        .then(() => { b.textContent = 'Copied!'; })
        .catch(() => { b.textContent = 'Copy failed'; })
        .finally(() => setTimeout(() => { b.textContent = label || 'Copy'; }, 1500));
    });
    return b;
  }

  function codeBlock(code, lang) {
    const wrap = h('div', 'code-block');
    const head = h('div', 'code-head');
    head.appendChild(h('span', 'code-lang', lang || 'code'));
    head.appendChild(copyButton(() => code));
    wrap.appendChild(head);
    const pre = h('pre');
    const c = h('code', null, code);
    if (lang && /^[\w+#.-]+$/.test(lang)) c.className = 'language-' + lang;
    pre.appendChild(c);
    wrap.appendChild(pre);
    return wrap;
  }

  const FENCE_RE = /^ {0,3}(`{3,}|~{3,})\s*([^`\s]*)[^`]*$/;
  const HR_RE = /^ {0,3}([-*_])(?:[ \t]*\1){2,}[ \t]*$/;
  const HEADING_RE = /^ {0,3}(#{1,6})[ \t]+(.*?)(?:[ \t]+#+)?[ \t]*$/;
  const LIST_RE = /^([ \t]*)([-*+]|\d{1,9}[.)])[ \t]+(.*)$/;
  const QUOTE_RE = /^ {0,3}>[ ]?(.*)$/;

  function renderMarkdown(src, container, depth) {
    depth = depth || 0;
    const lines = String(src).replace(/\r\n?/g, '\n').split('\n');
    let para = null; // lines of the open paragraph
    let lists = []; // stack of {el, type, indent, parent, lastLi}
    let blank = false;

    const flushPara = () => {
      if (!para) return;
      const p = h('p');
      para.forEach((l, k) => {
        if (k) p.appendChild(h('br'));
        renderInline(l, p);
      });
      container.appendChild(p);
      para = null;
    };
    const closeLists = () => { lists = []; };

    for (let i = 0; i < lines.length; i++) {
      const line = lines[i];
      let m;

      if ((m = FENCE_RE.exec(line))) {
        flushPara(); closeLists(); blank = false;
        const fence = m[1];
        const close = new RegExp('^ {0,3}' + (fence[0] === '`' ? '`' : '~') + '{' + fence.length + ',}\\s*$');
        const body = [];
        i++;
        while (i < lines.length && !close.test(lines[i])) body.push(lines[i++]);
        container.appendChild(codeBlock(body.join('\n'), m[2]));
        continue;
      }
      if (/^\s*$/.test(line)) {
        flushPara();
        blank = true;
        continue;
      }
      if (HR_RE.test(line)) {
        flushPara(); closeLists(); blank = false;
        container.appendChild(h('hr'));
        continue;
      }
      if ((m = HEADING_RE.exec(line))) {
        flushPara(); closeLists(); blank = false;
        const hd = h('h' + Math.min(m[1].length, 6));
        renderInline(m[2], hd);
        container.appendChild(hd);
        continue;
      }
      if ((m = QUOTE_RE.exec(line)) && depth < 4) {
        flushPara(); closeLists(); blank = false;
        const quoted = [m[1]];
        while (i + 1 < lines.length && (m = QUOTE_RE.exec(lines[i + 1]))) { quoted.push(m[1]); i++; }
        const bq = h('blockquote');
        renderMarkdown(quoted.join('\n'), bq, depth + 1);
        container.appendChild(bq);
        continue;
      }
      if ((m = LIST_RE.exec(line))) {
        flushPara();
        const indent = m[1].replace(/\t/g, '    ').length;
        const ordered = /\d/.test(m[2]);
        const type = ordered ? 'ol' : 'ul';
        const delim = m[2].slice(-1); // '.' or ')' for ordered, the bullet for unordered
        while (lists.length > 1 && indent < lists[lists.length - 1].indent) lists.pop();
        let top = lists[lists.length - 1];
        if (top && lists.length === 1 && indent < top.indent) top.indent = indent;
        const startList = (parent) => {
          const el = h(type);
          if (ordered) {
            const n = parseInt(m[2], 10);
            if (n !== 1) el.start = n;
          }
          parent.appendChild(el);
          const entry = { el, type, delim, indent, parent, lastLi: null };
          lists.push(entry);
          return entry;
        };
        if (!top) {
          top = startList(container);
        } else if (indent >= top.indent + 2 && top.lastLi) {
          top = startList(top.lastLi);
        } else if (top.type !== type || top.delim !== delim) {
          lists.pop();
          top = startList(top.parent);
        }
        const li = h('li');
        renderInline(m[3], li);
        top.el.appendChild(li);
        top.lastLi = li;
        blank = false;
        continue;
      }
      // plain text line
      const top = lists[lists.length - 1];
      if (top && top.lastLi && (!blank || /^\s{2,}/.test(line))) {
        // continuation of the last list item
        if (blank) {
          const p = h('p');
          renderInline(line.trim(), p);
          top.lastLi.appendChild(p);
        } else {
          top.lastLi.appendChild(h('br'));
          renderInline(line.trim(), top.lastLi);
        }
        blank = false;
        continue;
      }
      closeLists();
      blank = false;
      if (!para) para = [];
      para.push(line.replace(/^\s+/, ''));
    }
    flushPara();
  }

  // ---------------------------------------------------------------- rendering

  function prettyArgs(args, final) {
    if (!final || !args) return args;
    try { return JSON.stringify(JSON.parse(args), null, 2); } catch (e) { return args; }
  }

  function renderToolCalls(msg, box, final) {
    box.textContent = '';
    if (!msg.tool_calls || !msg.tool_calls.length) { box.hidden = true; return; }
    box.hidden = false;
    for (const t of msg.tool_calls) {
      const card = h('div', 'tool-call');
      const head = h('div', 'tool-head');
      head.appendChild(h('span', 'tool-icon', '⚙'));
      head.appendChild(h('span', 'tool-name', (t.function && t.function.name) || '(unnamed tool)'));
      if (t.id) head.appendChild(h('span', 'tool-id', t.id));
      card.appendChild(head);
      const args = (t.function && t.function.arguments) || '';
      card.appendChild(h('pre', 'tool-args', prettyArgs(args, final) || (final ? '{}' : '…')));
      box.appendChild(card);
    }
  }

  function formatNumber(n) {
    return typeof n === 'number' ? n.toLocaleString() : String(n);
  }

  function metaText(msg) {
    const parts = [];
    const u = msg.usage;
    const s = msg.stats || {};
    let completion = null;
    if (u && typeof u === 'object') {
      if (u.prompt_tokens != null) parts.push(formatNumber(u.prompt_tokens) + ' prompt');
      if (u.completion_tokens != null) {
        completion = u.completion_tokens;
        parts.push(formatNumber(u.completion_tokens) + ' completion tokens');
      }
    } else if (s.deltas) {
      completion = s.deltas;
      parts.push('~' + formatNumber(s.deltas) + ' tokens');
    }
    if (completion != null && s.gen_ms != null) {
      // the rate after the first token; with a single token, over the whole request
      const rate = completion > 1 && s.gen_ms > 0
        ? (completion - 1) / (s.gen_ms / 1000)
        : completion / (s.elapsed_ms / 1000);
      if (Number.isFinite(rate) && rate > 0) parts.push(rate.toFixed(1) + ' tok/s');
    }
    if (s.ttft_ms != null) parts.push('first token ' + (s.ttft_ms / 1000).toFixed(2) + ' s');
    if (msg.stopped) parts.push('stopped');
    else if (msg.finish_reason === 'length') parts.push('cut off at max_tokens');
    return parts.join(' · ');
  }

  function fillAssistant(el, msg, final) {
    const content = el.querySelector('.content');
    content.textContent = '';
    renderMarkdown(msg.content || '', content);
    renderToolCalls(msg, el.querySelector('.tool-calls'), final);
    el.classList.toggle('stopped', !!msg.stopped);
    el.classList.toggle('empty', !msg.content);
    const meta = el.querySelector('.meta');
    meta.textContent = '';
    if (final) {
      const text = metaText(msg);
      if (text) meta.appendChild(h('span', 'usage', text));
      if (msg.content) meta.appendChild(copyButton(() => msg.content, 'Copy answer'));
    }
    meta.hidden = !meta.firstChild;
  }

  function messageElement(msg) {
    const el = h('div', 'msg ' + (msg.role === 'user' || msg.role === 'assistant' ? msg.role : 'error'));
    const role = h('div', 'role', msg.role === 'user' ? 'You' : msg.role === 'assistant' ? 'Assistant' : 'Error');
    el.appendChild(role);
    if (msg.role === 'user') {
      el.appendChild(h('div', 'content plain', msg.content));
    } else if (msg.role === 'assistant') {
      el.appendChild(h('div', 'tool-calls'));
      el.appendChild(h('div', 'content markdown'));
      el.appendChild(h('div', 'meta'));
      const live = streaming && streaming.msg === msg;
      fillAssistant(el, msg, !live);
      if (live) {
        el.classList.add('live');
        streaming.el = el;
      }
    } else {
      let text = msg.content;
      if (msg.status) text = 'HTTP ' + msg.status + ': ' + text;
      el.appendChild(h('div', 'content plain', text));
      el.setAttribute('role', 'alert');
    }
    return el;
  }

  let lastRender = 0;
  let renderTimer = null;
  function updateStreamingView() {
    if (!streaming || !streaming.el) return;
    const now = performance.now();
    if (now - lastRender >= 16) {
      if (renderTimer) { clearTimeout(renderTimer); renderTimer = null; }
      doStreamingRender();
    } else if (!renderTimer) {
      renderTimer = setTimeout(() => { renderTimer = null; doStreamingRender(); }, 16);
    }
  }
  function doStreamingRender() {
    if (!streaming || !streaming.el) return;
    lastRender = performance.now();
    const stick = nearBottom();
    fillAssistant(streaming.el, streaming.msg, false);
    if (stick) scrollToBottom();
  }

  function nearBottom() {
    const m = els.messages;
    return m.scrollHeight - m.scrollTop - m.clientHeight < 80;
  }

  function scrollToBottom() {
    els.messages.scrollTop = els.messages.scrollHeight;
  }

  function renderConversation() {
    const conv = currentConv();
    els.messages.textContent = '';
    if (renderTimer) { clearTimeout(renderTimer); renderTimer = null; }
    if (streaming) streaming.el = null;
    els.convTitle.textContent = conv && conv.title ? conv.title : 'New chat';
    els.system.value = conv ? conv.system || '' : '';
    if (!conv || !conv.messages.length) {
      const empty = h('div', 'empty-state');
      empty.appendChild(h('div', 'empty-title', 'Start a conversation'));
      empty.appendChild(h('div', 'empty-sub', 'Answers stream in as the model writes them. Settings hold the system prompt and sampling options.'));
      els.messages.appendChild(empty);
      return;
    }
    for (const m of conv.messages) els.messages.appendChild(messageElement(m));
  }

  function renderSidebar() {
    els.convs.textContent = '';
    const sorted = conversations.slice().sort((a, b) => b.updated - a.updated);
    for (const c of sorted) {
      const li = h('li', 'conv' + (c.id === selectedId ? ' active' : ''));
      li.dataset.id = c.id;
      li.tabIndex = 0;
      li.setAttribute('role', 'button');
      if (c.id === selectedId) li.setAttribute('aria-current', 'true');
      const title = h('span', 'conv-name', c.title || 'New chat');
      title.title = c.title || 'New chat';
      li.appendChild(title);
      if (streaming && streaming.convId === c.id) li.appendChild(h('span', 'conv-live', '●'));
      const del = h('button', 'conv-delete', '×');
      del.type = 'button';
      del.title = 'Delete conversation';
      del.setAttribute('aria-label', 'Delete conversation');
      del.addEventListener('click', (ev) => { ev.stopPropagation(); deleteConversation(c.id); });
      li.appendChild(del);
      li.addEventListener('click', () => selectConversation(c.id));
      li.addEventListener('keydown', (ev) => {
        if (ev.key === 'Enter' || ev.key === ' ') { ev.preventDefault(); selectConversation(c.id); }
      });
      els.convs.appendChild(li);
    }
  }

  function selectConversation(id) {
    if (!conversations.some((c) => c.id === id)) return;
    selectedId = id;
    saveJSON(KEY_SELECTED, selectedId);
    renderSidebar();
    renderConversation();
    scrollToBottom();
    closeSidebar();
  }

  function deleteConversation(id) {
    if (streaming && streaming.convId === id) streaming.controller.abort();
    conversations = conversations.filter((c) => c.id !== id);
    if (selectedId === id) {
      const next = conversations.slice().sort((a, b) => b.updated - a.updated)[0];
      selectedId = next ? next.id : newConversation().id;
    }
    saveConversations();
    renderSidebar();
    renderConversation();
  }

  function startNewChat() {
    const cur = currentConv();
    if (cur && !cur.messages.length) {
      cur.system = settings.system || cur.system;
    } else {
      selectedId = newConversation().id;
    }
    saveConversations();
    renderSidebar();
    renderConversation();
    closeSidebar();
    els.input.focus();
  }

  // ---------------------------------------------------------------- sending

  function titleFrom(text) {
    const t = text.replace(/\s+/g, ' ').trim();
    return t.length > 48 ? t.slice(0, 47) + '…' : t;
  }

  function send() {
    if (streaming) return;
    const text = els.input.value;
    if (!text.trim()) return;
    let conv = currentConv();
    if (!conv) { conv = newConversation(); selectedId = conv.id; }
    if (!conv.title) conv.title = titleFrom(text);
    conv.messages.push({ role: 'user', content: text });
    const msg = { role: 'assistant', content: '' };
    conv.messages.push(msg);
    conv.updated = Date.now();
    els.input.value = '';
    autosize();
    saveConversations();
    renderSidebar();
    runCompletion(conv, msg);
  }

  function stop() {
    if (streaming) streaming.controller.abort();
  }

  // ---------------------------------------------------------------- settings UI

  function openSettings() {
    els.settings.hidden = false;
    els.settingsToggle.setAttribute('aria-expanded', 'true');
  }
  function closeSettings() {
    els.settings.hidden = true;
    els.settingsToggle.setAttribute('aria-expanded', 'false');
  }

  function showSettingsValues() {
    els.temperature.value = settings.temperature == null ? '' : settings.temperature;
    els.topP.value = settings.top_p == null ? '' : settings.top_p;
    els.maxTokens.value = settings.max_tokens == null ? '' : settings.max_tokens;
    els.seed.value = settings.seed == null ? '' : settings.seed;
    els.apiKey.value = apiKey;
  }

  function saveSettings() {
    saveJSON(KEY_SETTINGS, settings);
  }

  function bindNumber(input, key) {
    input.addEventListener('input', () => {
      settings[key] = numberOrNull(input.value);
      saveSettings();
    });
  }

  // ---------------------------------------------------------------- layout helpers

  function autosize() {
    const t = els.input;
    t.style.height = 'auto';
    t.style.height = Math.min(t.scrollHeight, 240) + 'px';
  }

  function openSidebar() { els.body.classList.add('sidebar-open'); }
  function closeSidebar() { els.body.classList.remove('sidebar-open'); }

  // ---------------------------------------------------------------- wiring

  els.composer.addEventListener('submit', (ev) => { ev.preventDefault(); send(); });
  els.input.addEventListener('keydown', (ev) => {
    if (ev.key === 'Enter' && !ev.shiftKey && !ev.isComposing && !ev.altKey && !ev.ctrlKey && !ev.metaKey) {
      ev.preventDefault();
      send();
    }
  });
  els.input.addEventListener('input', autosize);
  els.stop.addEventListener('click', stop);
  els.newChat.addEventListener('click', startNewChat);
  els.settingsToggle.addEventListener('click', () => (els.settings.hidden ? openSettings() : closeSettings()));
  els.settingsClose.addEventListener('click', closeSettings);
  els.sidebarToggle.addEventListener('click', () => (els.body.classList.contains('sidebar-open') ? closeSidebar() : openSidebar()));
  els.backdrop.addEventListener('click', closeSidebar);
  document.addEventListener('keydown', (ev) => {
    if (ev.key === 'Escape') {
      if (streaming) stop();
      else { closeSettings(); closeSidebar(); }
    }
  });

  els.system.addEventListener('input', () => {
    const conv = currentConv();
    if (conv) {
      conv.system = els.system.value;
      saveConversationsSoon();
    }
    settings.system = els.system.value;
    saveSettings();
  });
  bindNumber(els.temperature, 'temperature');
  bindNumber(els.topP, 'top_p');
  bindNumber(els.maxTokens, 'max_tokens');
  bindNumber(els.seed, 'seed');
  els.settingsReset.addEventListener('click', () => {
    settings = Object.assign({}, DEFAULT_SETTINGS, { system: settings.system });
    saveSettings();
    showSettingsValues();
  });
  let keyTimer = null;
  els.apiKey.addEventListener('input', () => {
    apiKey = els.apiKey.value.trim();
    try {
      if (apiKey) localStorage.setItem(KEY_API, apiKey);
      else localStorage.removeItem(KEY_API);
    } catch (e) { /* ignore */ }
    els.apiKeyField.classList.remove('attention');
    els.apiKeyHint.hidden = true;
    clearTimeout(keyTimer);
    keyTimer = setTimeout(() => { modelPromise = null; loadModel().catch(() => {}); }, 400);
  });

  // A conversation saved in another tab shows up here too.
  window.addEventListener('storage', (ev) => {
    if (ev.key !== KEY_CONVS || streaming) return;
    conversations = sanitizeConversations(loadJSON(KEY_CONVS, []));
    if (!currentConv()) selectedId = conversations.length ? conversations[0].id : newConversation().id;
    renderSidebar();
    renderConversation();
  });

  // ---------------------------------------------------------------- start

  for (const c of conversations) {
    // an answer interrupted by a reload keeps its text but is marked stopped
    for (const m of c.messages) if (m.role === 'assistant' && !m.stats) m.stopped = true;
  }
  if (!currentConv()) {
    const sorted = conversations.slice().sort((a, b) => b.updated - a.updated);
    selectedId = sorted.length ? sorted[0].id : newConversation().id;
  }
  setState('idle');
  showSettingsValues();
  renderSidebar();
  renderConversation();
  scrollToBottom();
  autosize();
  loadModel().catch(() => {});
  els.input.focus();
})();
