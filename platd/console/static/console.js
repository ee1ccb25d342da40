// The plat web console: a transcript of plat command lines in a ghostty-web terminal.
//
// The page edits one line at a time locally (lineedit.js: cursor movement, deleting, history,
// paste); Enter sends the line to platd, which checks it and runs it with the CLI's
// runner as the signed-in person. Everything shown comes from the server as blocks (the
// command line, its output, its exit status), so a reload replays the same transcript.
// Only ghostty-web's xterm.js-compatible calls are used (Terminal, open, write, onData,
// loadAddon, FitAddon.fit, buffer.active), so @xterm/xterm stays a drop-in fallback.
import * as ghostty from './vendor/ghostty-web.js';
import { LineEditor } from './lineedit.js';

const PROMPT = '\x1b[1;36m$\x1b[0m ';
const MAX_LINE = 4096;
const csrf = document.querySelector('meta[name=csrf]').content;
const state = { ws: null, running: null, tty: null,
                ready: false, connected: false, hellos: 0, panels: {}, blocks: new Map() };
const KEPT_BLOCKS = 200; // blocks the page keeps for Copy (platd keeps as many)
const DETACH_STREAM = '\x1a'; // Ctrl-Z: move the running stream into a side panel
const PANEL_LINES = 2000; // lines a panel keeps
const DETACH = '\x1d'; // Ctrl-]: leave an exec session
const STDIN_CHUNK = 8192; // bytes per stdin message (platd takes messages up to 8 KiB)
const utf8 = new TextEncoder();

if (typeof ghostty.init === 'function') await ghostty.init(); // ghostty-web loads its WASM
const term = new ghostty.Terminal({
  // A steady cursor: a blinking one has ghostty-web redraw the cursor's row on every
  // animation frame, main-thread work that delays the next key's echo on a busy machine.
  fontSize: 14, cursorBlink: false, scrollback: 10000, convertEol: false,
  fontFamily: 'DejaVu Sans Mono, Menlo, monospace',
  theme: { background: '#1b1d23', foreground: '#d8dee9' },
});
const fit = new ghostty.FitAddon();
term.loadAddon(fit);
term.open(document.getElementById('terminal'));
fit.fit();
window.addEventListener('resize', () => fit.fit());
term.focus();
const editor = new LineEditor(term, PROMPT, 2, MAX_LINE);
window.platConsole = { term, state, editor }; // the browser tests read the terminal through this

// What the terminal shows goes through put(): the first write after a quiet moment goes at
// once (an echo is never held back), and what arrives within the next 16 ms is joined into one
// write, so a fast stream costs the page one parse per tick and leaves it time to paint and to
// take keys. drain() writes what is held before the line editor draws the prompt.
const held = { chunks: [], timer: null };
function put(data) {
  if (held.timer === null) {
    term.write(data);
    held.timer = setTimeout(release, 16);
    return;
  }
  held.chunks.push(typeof data === 'string' ? utf8.encode(data) : data);
}
function release() {
  held.timer = null;
  if (!held.chunks.length) return;
  let size = 0;
  for (const chunk of held.chunks) size += chunk.length;
  const joined = new Uint8Array(size);
  let at = 0;
  for (const chunk of held.chunks) { joined.set(chunk, at); at += chunk.length; }
  held.chunks = [];
  term.write(joined);
  held.timer = setTimeout(release, 16);
}
function drain() {
  if (held.timer !== null) clearTimeout(held.timer);
  held.timer = null;
  release();
  if (held.timer !== null) { clearTimeout(held.timer); held.timer = null; }
}

const crlf = (text) => text.replace(/\r?\n/g, '\r\n');
const setStatus = (text) => { document.getElementById('status').textContent = text; };
const status = setStatus;
const showFiles = (files) => {
  document.getElementById('files').textContent = files.length ? 'files: ' + files.join(', ') : '';
};

function prompt() {
  drain();
  editor.show();
  state.ready = true;
}

function header(line) {
  put('\r\x1b[2K\x1b[1m$ ' + line.replace(/[\x00-\x1f\x7f]/g, '') + '\x1b[0m\r\n');
}

function ending(code) {
  const colour = code === 0 ? '\x1b[2m' : '\x1b[31m';
  put(colour + '[exit ' + code + ']\x1b[0m\r\n\r\n');
}

// --- detached streams: side panels that keep streaming while the transcript goes on ----------

function panel(id, line) {
  if (state.panels[id]) return state.panels[id];
  const el = document.createElement('section');
  el.className = 'panel';
  el.dataset.block = String(id);
  const bar = document.createElement('div');
  bar.className = 'bar';
  const title = document.createElement('span');
  title.className = 'title';
  title.textContent = '$ ' + line;
  const status = document.createElement('span');
  status.className = 'state';
  status.textContent = 'streaming';
  const pause = document.createElement('button');
  pause.type = 'button';
  pause.textContent = 'Pause';
  pause.className = 'pause';
  const close = document.createElement('button');
  close.type = 'button';
  close.textContent = '×';
  close.title = 'Stop the stream and close the panel';
  close.className = 'close';
  const back = document.createElement('button');
  back.type = 'button';
  back.textContent = '↩';
  back.title = 'Put the stream back into the transcript (the prompt must be free)';
  back.className = 'back';
  back.addEventListener('click', () => {
    if (p.ended) { status.textContent = 'ended'; return; }
    if (state.running !== null) { setStatus('a command is running: wait for it, Ctrl-C or Ctrl-Z'); return; }
    send({ type: 'reattach', id });
    term.focus(); // Ctrl-C and Ctrl-Z are the transcript's again
  });
  const body = document.createElement('pre');
  bar.append(title, status, pause, back, close);
  el.append(bar, body);
  document.getElementById('panels').append(el);
  const p = { el, body, status, paused: false, held: [], ended: false };
  pause.addEventListener('click', () => {
    p.paused = !p.paused;
    pause.textContent = p.paused ? 'Resume' : 'Pause';
    if (!p.ended) status.textContent = p.paused ? 'paused' : 'streaming';
    if (!p.paused) { for (const t of p.held) append(p, t); p.held = []; }
    term.focus();
  });
  close.addEventListener('click', () => {
    if (!p.ended) send({ type: 'cancel', id });
    el.remove();
    delete state.panels[id];
    term.focus();
  });
  state.panels[id] = p;
  setTimeout(() => fit.fit(), 0);
  return p;
}

function append(p, text) {
  if (p.paused) { p.held.push(text); return; }
  const end = p.body.scrollTop + p.body.clientHeight >= p.body.scrollHeight - 4;
  p.body.append(text);
  if (p.body.childNodes.length > PANEL_LINES) p.body.firstChild.remove();
  if (end) p.body.scrollTop = p.body.scrollHeight;
}

// --- blocks as text, for the Copy panel ------------------------------------------------------

function keep(message) {
  const blocks = state.blocks;
  switch (message.type) {
    case 'hello':
      blocks.clear();
      for (const b of message.blocks) {
        blocks.set(b.id, { line: b.line, out: b.out.map(([, t]) => t).join(''), code: b.code });
      }
      break;
    case 'block':
      blocks.set(message.id, { line: message.line, out: '', code: null });
      while (blocks.size > KEPT_BLOCKS) blocks.delete(blocks.keys().next().value);
      break;
    case 'out': {
      const b = blocks.get(message.id);
      if (b) b.out += message.text;
      break;
    }
    case 'end': {
      const b = blocks.get(message.id);
      if (b) b.code = message.code;
      break;
    }
    case 'reattached': {
      const b = blocks.get(message.id);
      if (b) { blocks.delete(message.id); blocks.set(message.id, b); }
      break;
    }
    default:
      return;
  }
  if (document.querySelector('#panels .copies')) listCopies();
}

const plain = (text) => text.replace(/\x1b\[[0-9;?]*[ -\/]*[@-~]/g, '');

async function copy(text, what) {
  try {
    if (!navigator.clipboard) throw new Error('no clipboard API');
    await navigator.clipboard.writeText(text);
  } catch (e) { // plain http to another host: the older way, from a selected text area
    const area = document.createElement('textarea');
    area.value = text;
    document.body.append(area);
    area.select();
    document.execCommand('copy');
    area.remove();
  }
  status('copied ' + what);
  term.focus();
}

function listCopies() {
  const list = document.querySelector('#panels .copies ol');
  list.replaceChildren();
  for (const [id, b] of [...state.blocks].reverse()) {
    const item = document.createElement('li');
    item.dataset.block = String(id);
    const code = document.createElement('code');
    code.textContent = '$ ' + b.line + (b.code === null ? '' : '  [exit ' + b.code + ']');
    const line = document.createElement('button');
    line.type = 'button';
    line.className = 'copy-line';
    line.textContent = 'command';
    line.title = 'Copy the command line';
    line.addEventListener('click', () => copy(b.line, 'the command line'));
    const out = document.createElement('button');
    out.type = 'button';
    out.className = 'copy-out';
    out.textContent = 'output';
    out.title = 'Copy what the command printed';
    out.addEventListener('click', () => copy(plain(b.out), 'the output of ' + b.line));
    item.append(code, line, out);
    list.append(item);
  }
}

function copies() {
  const open = document.querySelector('#panels .copies');
  if (open) { open.remove(); setTimeout(() => fit.fit(), 0); term.focus(); return; }
  const el = document.createElement('section');
  el.className = 'panel copies';
  const bar = document.createElement('div');
  bar.className = 'bar';
  const title = document.createElement('span');
  title.className = 'title';
  title.textContent = 'Copy a block (newest first)';
  const close = document.createElement('button');
  close.type = 'button';
  close.textContent = '×';
  close.addEventListener('click', () => copies());
  bar.append(title, close);
  el.append(bar, document.createElement('ol'));
  document.getElementById('panels').prepend(el);
  listCopies();
  setTimeout(() => fit.fit(), 0);
}

document.getElementById('copy').addEventListener('click', copies);

function render(message) {
  keep(message);
  switch (message.type) {
    case 'hello':
      state.hellos += 1;
      term.reset();
      for (const p of Object.values(state.panels)) p.el.remove();
      state.panels = {};
      for (const block of message.blocks) {
        header(block.line);
        if ((message.panels || []).includes(block.id)) {
          const p = panel(block.id, block.line);
          for (const [, text] of block.out) append(p, text);
          put('\x1b[2m[streaming in a side panel]\x1b[0m\r\n\r\n');
          continue;
        }
        for (const [, text] of block.out) put(crlf(text));
        if (block.code !== null) ending(block.code);
      }
      state.running = message.running;
      state.tty = message.tty;
      showFiles(message.files);
      if (state.running === null) prompt(); else state.ready = false;
      break;
    case 'block':
      state.running = message.id;
      state.ready = false;
      header(message.line);
      break;
    case 'out':
      if (state.panels[message.id]) append(state.panels[message.id], message.text);
      else put(crlf(message.text));
      break;
    case 'reattached': {
      // Back from its panel: last in the transcript, with what the panel had shown.
      const p = state.panels[message.id];
      const shown = p ? p.body.textContent + p.held.join('') : '';
      if (p) { p.el.remove(); delete state.panels[message.id]; setTimeout(() => fit.fit(), 0); }
      drain();
      editor.clear();
      state.running = message.id;
      state.ready = false;
      header(message.line);
      put('\x1b[2m[back from its side panel]\x1b[0m\r\n' + crlf(shown));
      break;
    }
    case 'detached':
      panel(message.id, message.line);
      put('\x1b[2m[streaming in a side panel]\x1b[0m\r\n\r\n');
      state.running = null;
      prompt();
      break;
    case 'notice':
      status(message.text);
      break;
    case 'tty':
      state.tty = message.id;
      send({ type: 'resize', rows: term.rows, cols: term.cols });
      break;
    case 'end':
      if (state.panels[message.id]) {
        const p = state.panels[message.id];
        p.ended = true;
        append(p, '[exit ' + message.code + ']\n');
        p.status.textContent = 'ended';
        break;
      }
      if (state.tty !== null) { put('\x1b[0m\r\n'); state.tty = null; }
      ending(message.code);
      state.running = null;
      prompt();
      break;
    case 'busy':
      status('a command is still running: Ctrl-C stops it');
      break;
    case 'ended':
      state.ended = true;
      location.reload();
      break;
    default:
      break;
  }
}

async function ticket() {
  const r = await fetch('/console/ticket', {
    method: 'POST', headers: { 'X-CSRF-Token': csrf }, credentials: 'same-origin' });
  if (r.status === 401) { location.reload(); return null; }
  if (!r.ok) throw new Error('ticket: ' + r.status);
  return (await r.json()).ticket;
}

async function connect() {
  let t;
  try { t = await ticket(); } catch (e) { setTimeout(connect, 1000); return; }
  if (t === null) return;
  const scheme = location.protocol === 'https:' ? 'wss://' : 'ws://';
  const ws = new WebSocket(scheme + location.host + '/console/ws?ticket=' + encodeURIComponent(t));
  state.ws = ws;
  ws.onopen = () => { state.connected = true; status(''); };
  ws.binaryType = 'arraybuffer';
  ws.onmessage = (e) => {
    // A binary message is an exec session's TTY output, its bytes as they came (the
    // terminal decodes UTF-8 itself, a character split across two messages included).
    if (typeof e.data !== 'string') { put(new Uint8Array(e.data)); return; }
    const message = JSON.parse(e.data);
    if (message.type === 'ping') { ws.send(JSON.stringify({ type: 'ping' })); return; }
    render(message);
  };
  ws.onclose = () => {
    state.connected = false;
    state.ready = false;
    if (state.ended) return;
    status('connection lost; reconnecting…');
    setTimeout(connect, 1000);
  };
}

function send(message) {
  if (state.ws && state.ws.readyState === WebSocket.OPEN) state.ws.send(JSON.stringify(message));
}

function submit() {
  drain();
  if (!editor.line.trim()) { // an empty line: a fresh prompt below, as a shell does
    editor.apply('end');
    put('\r\n');
    editor.drop();
    prompt();
    return;
  }
  const line = editor.take();
  state.ready = false;
  send({ type: 'run', line, rows: term.rows, cols: term.cols });
}

term.onResize(({ rows, cols }) => {
  if (state.tty !== null) send({ type: 'resize', rows, cols });
});

term.onData((data) => {
  if (state.tty !== null) { // an exec session: every key is the remote terminal's
    if (data === DETACH) { send({ type: 'cancel' }); return; }
    // Keys as a binary message, their UTF-8 bytes: no JSON on the way of a keystroke.
    const bytes = utf8.encode(data);
    if (!state.ws || state.ws.readyState !== WebSocket.OPEN) return;
    for (let i = 0; i < bytes.length; i += STDIN_CHUNK) {
      state.ws.send(bytes.subarray(i, i + STDIN_CHUNK));
    }
    return;
  }
  if (state.running !== null) {
    if (data.includes('\x03')) send({ type: 'cancel' });
    else if (data.includes(DETACH_STREAM)) send({ type: 'detach' });
    return;
  }
  if (!state.ready) return;
  const key = LineEditor.action(data);
  if (key) { editor.apply(key); return; }
  if (data.startsWith('\x1b')) return; // other keys (F1, PageUp, ...) do nothing here
  let text = ''; // printable characters are inserted together (a paste redraws once)
  for (const ch of data) {
    if (ch >= ' ' && ch !== '\x7f') { text += ch; continue; }
    editor.insert(text);
    text = '';
    if (ch === '\r' || ch === '\n') {
      submit();
      if (!state.ready) return; // a command runs: the rest of a paste is not for it
    } else if (ch === '\x03') {
      editor.apply('end');
      put('^C\r\n');
      editor.drop();
      prompt();
    } else if (LineEditor.action(ch)) {
      editor.apply(LineEditor.action(ch));
    }
  }
  editor.insert(text);
});

document.getElementById('upload').addEventListener('change', async (e) => {
  for (const file of e.target.files) {
    const r = await fetch('/console/files?name=' + encodeURIComponent(file.name), {
      method: 'POST', headers: { 'X-CSRF-Token': csrf, 'Content-Type': 'application/octet-stream' },
      body: file, credentials: 'same-origin' });
    const body = await r.json();
    if (r.ok) { showFiles(body.files); status('uploaded ' + file.name); }
    else status(body.error ? body.error.message : 'upload failed: ' + r.status);
  }
  e.target.value = '';
  term.focus();
});

// --- the guide: onboarding as a transcript, each step typed out for the person to run ------

const GUIDE = [
  ['See the orgs you belong to.', ['orgs list']],
  ['Create a project, an app and its env (an org owner can; a deployer asks one).',
   ['projects create {org}/web', 'apps create {org}/web/hello', 'envs create {org}/web/hello/prod']],
  ['Make the env the default target of this console.', ['use {org}/web/hello/prod']],
  ['Upload your plat.toml (the Upload button), and check it.', ['manifest check -f plat.toml']],
  ['Deploy. The gate refuses while required config and secrets are missing, and says which.',
   ['deploy -f plat.toml']],
  ['Set what the gate asked for: config, and a secret bundle.',
   ['config set GREETING=hello', 'secrets create db --set PASSWORD=change-me']],
  ['Deploy again: the receipt says what changed and the rollout is followed to healthy.',
   ['deploy -f plat.toml']],
  ['Expose the web workload on the host.',
   ['endpoints create web --workload web --internal-port 8080 --port {port} --ipv4']],
  ['Confirm: its status, its logs, and one request through the endpoint.',
   ['status', 'logs --workload web --since 10m', 'endpoints check web']],
];

function typeLine(line) {
  if (!state.ready || state.running !== null) { status('wait for the prompt'); return; }
  editor.set(line);
  term.focus();
}

function guide() {
  const open = document.querySelector('#panels .guide');
  if (open) { open.remove(); setTimeout(() => fit.fit(), 0); return; }
  const el = document.createElement('section');
  el.className = 'panel guide';
  const bar = document.createElement('div');
  bar.className = 'bar';
  const title = document.createElement('span');
  title.className = 'title';
  title.textContent = 'Guide: from nothing to a running app';
  const label = document.createElement('label');
  label.textContent = 'org ';
  const org = document.createElement('input');
  org.id = 'guide-org';
  org.value = localStorage.getItem('plat-guide-org') || '';
  org.placeholder = 'your org';
  label.append(org);
  const portLabel = document.createElement('label');
  portLabel.textContent = ' port ';
  const port = document.createElement('input');
  port.id = 'guide-port';
  port.size = 5;
  port.value = localStorage.getItem('plat-guide-port') || '8080';
  port.placeholder = 'port';
  portLabel.append(port);
  const close = document.createElement('button');
  close.type = 'button';
  close.textContent = '×';
  close.addEventListener('click', () => guide());
  bar.append(title, label, portLabel, close);
  const list = document.createElement('ol');
  for (const [text, lines] of GUIDE) {
    const item = document.createElement('li');
    item.append(text, document.createElement('br'));
    for (const template of lines) {
      const code = document.createElement('code');
      const fill = () => template.replaceAll('{org}', org.value.trim() || 'ORG')
        .replaceAll('{port}', port.value.trim() || '8080');
      code.textContent = fill();
      org.addEventListener('input', () => { code.textContent = fill(); });
      port.addEventListener('input', () => { code.textContent = fill(); });
      const type = document.createElement('button');
      type.type = 'button';
      type.className = 'type';
      type.textContent = 'Type it';
      type.addEventListener('click', () => typeLine(fill()));
      item.append(code, type, document.createElement('br'));
    }
    list.append(item);
  }
  org.addEventListener('change', () => localStorage.setItem('plat-guide-org', org.value.trim()));
  port.addEventListener('change', () => localStorage.setItem('plat-guide-port', port.value.trim()));
  el.append(bar, list);
  document.getElementById('panels').prepend(el);
  setTimeout(() => fit.fit(), 0);
}

document.getElementById('guide').addEventListener('click', guide);

connect();
