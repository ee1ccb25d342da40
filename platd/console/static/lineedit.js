// The console's line editor: the line being typed at the prompt, its cursor and its history.
//
// A module of its own so that console.js keeps to the transcript and the websocket. Keys are
// the ones a shell's line editor (readline) takes: Left/Right (Ctrl-B/F), Home/End (Ctrl-A/E),
// Ctrl-Left/Right and Alt-B/F by word, Backspace and Delete anywhere in the line, Ctrl-W (the
// word before the cursor), Ctrl-U (all before it), Ctrl-K (all after it), Up/Down (history,
// the line being typed kept as the newest entry). The terminal is written with plain VT
// sequences only (no xterm.js or ghostty-web internals), so a line longer than the terminal
// is wide wraps and is still edited in place.

// The terminal's cursor is kept at row floor((promptWidth + cursor) / cols) of the line (never
// in the "pending wrap" state at the right margin): moving back to the line's start only needs
// the cursor's own position.

const KEYS = {
  '\x1b[D': 'left', '\x1bOD': 'left', '\x02': 'left',
  '\x1b[C': 'right', '\x1bOC': 'right', '\x06': 'right',
  '\x1b[H': 'home', '\x1bOH': 'home', '\x1b[1~': 'home', '\x1b[7~': 'home', '\x01': 'home',
  '\x1b[F': 'end', '\x1bOF': 'end', '\x1b[4~': 'end', '\x1b[8~': 'end', '\x05': 'end',
  '\x1b[1;5D': 'wordLeft', '\x1b[1;3D': 'wordLeft', '\x1bb': 'wordLeft',
  '\x1b[1;5C': 'wordRight', '\x1b[1;3C': 'wordRight', '\x1bf': 'wordRight',
  '\x1b[3~': 'del', '\x04': 'del',
  '\x7f': 'backspace', '\b': 'backspace',
  '\x17': 'killWord', '\x15': 'killStart', '\x0b': 'killEnd',
  '\x1b[A': 'up', '\x1bOA': 'up', '\x10': 'up',
  '\x1b[B': 'down', '\x1bOB': 'down', '\x0e': 'down',
};

export class LineEditor {
  constructor(term, prompt, promptWidth, max) {
    this.term = term;
    this.prompt = prompt;
    this.width = promptWidth; // columns the prompt takes on the screen
    this.max = max;
    this.line = '';
    this.cursor = 0; // index in line
    this.shown = 0; // where the terminal's cursor is, as an index in the line shown
    this.history = [];
    this.back = 0; // 0: the line being typed; n: the n-th newest entry of the history
    this.draft = '';
  }

  // The action a key (one onData piece) is, or null: text to insert, Enter, Ctrl-C are not.
  static action(data) {
    return KEYS[data] || null;
  }

  // Prompt and line, the cursor where it belongs: after a block ended (start of a row).
  show() {
    this.term.write(this.prompt + this.line + this.place(this.line.length));
  }

  // Back to the start of the prompt, and clear what the line took (it may wrap over rows).
  clear() {
    const rows = Math.floor((this.width + this.shown) / this.term.cols);
    this.term.write('\r' + (rows > 0 ? '\x1b[' + rows + 'A' : '') + '\x1b[J');
    this.shown = 0;
  }

  // Replace the line (history, the guide's Type it), the cursor at its end.
  set(line) {
    this.clear();
    this.line = line.slice(0, this.max);
    this.cursor = this.line.length;
    this.show();
  }

  // The line, for Enter: taken out of the editor and kept in the history.
  take() {
    const line = this.line;
    this.clear();
    this.line = '';
    this.cursor = 0;
    this.back = 0;
    this.draft = '';
    if (line.trim() && this.history[this.history.length - 1] !== line) this.history.push(line);
    return line;
  }

  // Forget the line, leaving the screen as it is (Ctrl-C, an empty Enter: the line stays shown).
  drop() {
    this.line = '';
    this.cursor = this.shown = this.back = 0;
    this.draft = '';
  }

  // From the end of the text just written to index `at` of the line (and out of a pending
  // wrap when the text ended at the right margin).
  place(at) {
    const cols = this.term.cols;
    const end = this.width + this.line.length;
    let out = end > 0 && end % cols === 0 ? ' \b' : '';
    const pos = this.width + at;
    const up = Math.floor(end / cols) - Math.floor(pos / cols);
    if (up > 0) out += '\x1b[' + up + 'A';
    if (up > 0 || at !== this.line.length) out += '\r' + (pos % cols ? '\x1b[' + (pos % cols) + 'C' : '');
    this.shown = at;
    return out;
  }

  redraw() {
    this.clear();
    this.term.write(this.prompt + this.line + this.place(this.cursor));
  }

  insert(text) {
    const room = this.max - this.line.length;
    if (room <= 0 || !text) return;
    text = text.slice(0, room);
    const atEnd = this.cursor === this.line.length;
    this.line = this.line.slice(0, this.cursor) + text + this.line.slice(this.cursor);
    this.cursor += text.length;
    if (atEnd) this.term.write(text + this.place(this.cursor)); // typing at the end: no redraw
    else this.redraw();
  }

  // Index of the start of the word before `i` / the end of the word after it.
  wordStart(i) {
    while (i > 0 && this.line[i - 1] === ' ') i--;
    while (i > 0 && this.line[i - 1] !== ' ') i--;
    return i;
  }

  wordEnd(i) {
    const n = this.line.length;
    while (i < n && this.line[i] === ' ') i++;
    while (i < n && this.line[i] !== ' ') i++;
    return i;
  }

  move(to) {
    to = Math.max(0, Math.min(this.line.length, to));
    if (to === this.cursor) return;
    this.cursor = to;
    this.redraw();
  }

  cut(from, to) {
    if (from >= to) return;
    this.line = this.line.slice(0, from) + this.line.slice(to);
    this.cursor = from;
    this.redraw();
  }

  recall(step) {
    const n = this.history.length;
    const back = Math.max(0, Math.min(n, this.back + step));
    if (back === this.back) return;
    if (this.back === 0) this.draft = this.line;
    this.back = back;
    this.set(back === 0 ? this.draft : this.history[n - back]);
  }

  // Do what the key `action` (from LineEditor.action) says.
  apply(action) {
    const c = this.cursor;
    switch (action) {
      case 'left': this.move(c - 1); break;
      case 'right': this.move(c + 1); break;
      case 'home': this.move(0); break;
      case 'end': this.move(this.line.length); break;
      case 'wordLeft': this.move(this.wordStart(c)); break;
      case 'wordRight': this.move(this.wordEnd(c)); break;
      case 'backspace':
        if (c === 0) break;
        if (c === this.line.length && (this.width + c) % this.term.cols !== 0) {
          this.line = this.line.slice(0, -1); // the common case, at the end: rub it out
          this.cursor = this.shown = c - 1;
          this.term.write('\b \b');
        } else this.cut(c - 1, c);
        break;
      case 'del': this.cut(c, c + 1); break;
      case 'killWord': this.cut(this.wordStart(c), c); break;
      case 'killStart': this.cut(0, c); break;
      case 'killEnd': this.cut(c, this.line.length); break;
      case 'up': this.recall(1); break;
      case 'down': this.recall(-1); break;
      default: break;
    }
  }
}
