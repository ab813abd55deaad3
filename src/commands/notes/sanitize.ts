/**
 * TMI's rule for note content: markdown in which safe inline HTML (tables, SVG, formatting)
 * is kept and dangerous HTML — elements that run or embed other documents, event-handler
 * attributes, script URLs — is stripped. Only what is dangerous is touched: the markdown
 * around it (`>` quotes, `<` in prose, code) stays byte for byte, which an HTML sanitizer that
 * re-serialises the text would not keep. Markdown is not parsed: a dangerous tag written inside
 * a code span is removed too.
 *
 * Every `<` followed by a letter (or `</` and a letter) is read as a tag, on its own, the way an
 * HTML tokenizer reads one from there: tag name, then attributes (a name — which may follow
 * whitespace, `/` or the closing quote of the previous value — an optional `=` and a quoted or
 * unquoted value) up to the first `>` outside a quoted value, or to the end of the text. Reading
 * from every `<`, even one inside another tag's value, covers a markdown renderer that refuses
 * the outer tag and then finds the inner one. A tag that never ends is still cleaned (the page
 * around the rendered note may end it).
 *
 * A pass is linear: the characters a tokenizer step looks for are found through tables built
 * once per pass, and every tag read from the same attribute boundary reads the same attributes
 * and ends at the same place, so each boundary is read once and later tags reuse the result.
 * Passes repeat until nothing changes, so a removal cannot splice a new dangerous tag together
 * (`<scr<script></script>ipt>`); should that still be changing after MAX_PASSES, a last pass
 * escapes (`&lt;`) the `<` of whatever it would have changed, which removes nothing and so
 * cannot splice.
 */
const DANGEROUS_ELEMENTS = 'script|iframe|frameset|frame|object|embed|applet|base|meta|link|noscript';
/** The name after `<` or `</`, as a word (`\b`): `<script-x` counts, `<scripts` does not. */
const DANGEROUS_NAME = new RegExp(`(?:${DANGEROUS_ELEMENTS})(?![A-Za-z0-9_])`, 'iy');
const CLOSING_TAG = new RegExp(`<\\/(${DANGEROUS_ELEMENTS})\\s*>`, 'gi');
const URL_ATTRIBUTES = new Set(['href', 'src', 'xlink:href', 'action', 'formaction', 'background', 'poster']);
/** SVG animation values, which can set a URL attribute (`<set attributeName="href" to="javascript:…">`); `values` is a `;` list. */
const ANIMATION_ATTRIBUTES = new Set(['to', 'from', 'by', 'values']);
const MAX_PASSES = 20;

const TAB = 9, LF = 10, FF = 12, CR = 13, SPACE = 32, QUOTE = 34, APOSTROPHE = 39, SLASH = 47, EQUALS = 61, GT = 62;
/** The HTML tokenizer's whitespace (not JavaScript's `\s`: a no-break space does not end a name or a value). */
const isSpace = (c: number): boolean => c === SPACE || c === LF || c === TAB || c === FF || c === CR;
const isLetter = (c: number): boolean => (c | 0x20) >= 0x61 && (c | 0x20) <= 0x7a;

/** For each position, where the next character of a kind is (the text's length if none): each tokenizer step in O(1). */
class Tables {
  readonly notSpace: Int32Array; // skip whitespace
  readonly notSeparator: Int32Array; // skip whitespace and `/` (before an attribute name)
  readonly tagNameEnd: Int32Array; // whitespace, `/`, `>`
  readonly attrNameEnd: Int32Array; // whitespace, `/`, `>`, `=`
  readonly unquotedEnd: Int32Array; // whitespace, `>`
  readonly quote: Int32Array; // `"`
  readonly apostrophe: Int32Array; // `'`

  constructor(text: string) {
    const n = text.length;
    const make = () => new Int32Array(n + 1).fill(n);
    this.notSpace = make(); this.notSeparator = make(); this.tagNameEnd = make(); this.attrNameEnd = make();
    this.unquotedEnd = make(); this.quote = make(); this.apostrophe = make();
    for (let i = n - 1; i >= 0; i--) {
      const c = text.charCodeAt(i);
      const space = isSpace(c);
      this.notSpace[i] = space ? this.notSpace[i + 1]! : i;
      this.notSeparator[i] = space || c === SLASH ? this.notSeparator[i + 1]! : i;
      this.tagNameEnd[i] = space || c === SLASH || c === GT ? i : this.tagNameEnd[i + 1]!;
      this.attrNameEnd[i] = space || c === SLASH || c === GT || c === EQUALS ? i : this.attrNameEnd[i + 1]!;
      this.unquotedEnd[i] = space || c === GT ? i : this.unquotedEnd[i + 1]!;
      this.quote[i] = c === QUOTE ? i : this.quote[i + 1]!;
      this.apostrophe[i] = c === APOSTROPHE ? i : this.apostrophe[i + 1]!;
    }
  }
}

const REFERENCE = /&#x([0-9a-f]+);?|&#(\d+);?|&(colon|tab|newline);/iy;
/** Text just before a `;` that makes the `;` the end of a character reference. */
const ENDS_REFERENCE = /&(?:#x[0-9a-f]+|#\d+|colon|tab|newline)$/i;
const URL_PREFIX = 32; // enough of the URL, as read, to tell its scheme
const URL_PADDING = 4096; // more characters than that before the scheme is no URL anyone writes: treated as a script URL

function codePoint(digits: string, radix: number): string {
  const n = Number.parseInt(digits, radix);
  return n > 0x10ffff || Number.isNaN(n) ? '\ufffd' : String.fromCodePoint(n);
}

/**
 * Whether text[start, end) is read as a script URL: character references decoded, whitespace and
 * controls dropped, case folded. Only the first URL_PREFIX characters so read are looked at.
 */
function scriptUrl(text: string, start: number, end: number): boolean {
  let read = '';
  let i = start;
  while (i < end && read.length < URL_PREFIX) {
    if (i - start > URL_PADDING) return true;
    let ch = text[i]!;
    REFERENCE.lastIndex = i;
    const ref = ch === '&' ? REFERENCE.exec(text) : null;
    if (ref && ref.index + ref[0].length <= end) {
      ch = ref[1] !== undefined ? codePoint(ref[1], 16) : ref[2] !== undefined ? codePoint(ref[2], 10) : ref[3]!.toLowerCase() === 'colon' ? ':' : '\t';
      i += ref[0].length;
    } else {
      i += 1;
    }
    if (!/^[\s\u0000-\u001f]$/u.test(ch)) read += ch.toLowerCase();
  }
  return /^(?:javascript|vbscript|livescript):|^data:(?!image\/(?:png|gif|jpeg|webp);)/.test(read);
}

/**
 * An event handler given code (`on` and letters, with a value: a bare `only` in prose an unended
 * tag swallowed is kept), or a URL attribute (or an SVG animation value) whose value is a script URL. No handler's name is
 * longer than 64 characters, which keeps the check O(1).
 */
function dangerousAttribute(text: string, nameStart: number, nameEnd: number, value: [number, number] | null): boolean {
  if (value === null || nameEnd - nameStart > 64) return false;
  const name = text.slice(nameStart, nameEnd).toLowerCase();
  if (/^on[a-z]+$/.test(name)) return true;
  if (URL_ATTRIBUTES.has(name)) return scriptUrl(text, value[0], value[1]);
  if (!ANIMATION_ATTRIBUTES.has(name)) return false;
  if (name !== 'values') return scriptUrl(text, value[0], value[1]);
  // Each item of the list on its own: a `;` ends one unless it ends a character reference (`&#106;`).
  let start = value[0];
  for (let i = value[0]; i <= value[1]; i++) {
    if (i < value[1] && (text[i] !== ';' || ENDS_REFERENCE.test(text.slice(Math.max(start, i - 12), i)))) continue;
    if (scriptUrl(text, start, i)) return true;
    start = i + 1;
  }
  return false;
}

type Edit = { start: number; end: number; text: string };
const UNREAD = -2;
const UNTERMINATED = -1;

/** One pass over the text: `remove` strips what is dangerous; `escape` turns the `<` of every tag it would touch into `&lt;`. */
function pass(text: string, mode: 'remove' | 'escape'): string {
  const n = text.length;
  if (text.indexOf('<') < 0) return text;
  const t = new Tables(text);
  const edits: Edit[] = [];
  // Per attribute boundary: where the tag read from there ends (after its `>`, or UNTERMINATED), and whether a dangerous attribute follows.
  const tagEnd = new Int32Array(n + 1).fill(UNREAD);
  const dangerAfter = new Uint8Array(n + 1);

  /** Reads the attributes from boundary `from` (after the tag name or an attribute), records removals of the dangerous ones. */
  function readAttributes(from: number): { end: number; danger: boolean } {
    const path: number[] = [];
    const flags: number[] = [];
    let end: number;
    let danger = false;
    let i = from;
    for (;;) {
      if (tagEnd[i] !== UNREAD) { end = tagEnd[i]!; danger = dangerAfter[i] === 1; break; }
      path.push(i);
      const nameStart = t.notSeparator[i]!;
      if (nameStart >= n) { flags.push(0); end = UNTERMINATED; break; }
      if (text.charCodeAt(nameStart) === GT) { flags.push(0); end = nameStart + 1; break; }
      // The name's first character is always part of it, even `=` or a quote.
      const nameEnd = t.attrNameEnd[nameStart + 1]!;
      let attrEnd = nameEnd;
      let value: [number, number] | null = null;
      const equals = t.notSpace[nameEnd]!;
      if (equals < n && text.charCodeAt(equals) === EQUALS) {
        const v = t.notSpace[equals + 1]!;
        const c = v < n ? text.charCodeAt(v) : -1;
        if (c === QUOTE || c === APOSTROPHE) {
          const close = (c === QUOTE ? t.quote : t.apostrophe)[v + 1]!;
          value = [v + 1, close];
          attrEnd = close < n ? close + 1 : n;
        } else if (c === GT || c === -1) {
          value = [v, v];
          attrEnd = v;
        } else {
          value = [v, t.unquotedEnd[v]!];
          attrEnd = value[1];
        }
      }
      const bad = dangerousAttribute(text, nameStart, nameEnd, value);
      flags.push(bad ? 1 : 0);
      if (bad && mode === 'remove') {
        // With the separators before it; a space kept if the next attribute was glued to this one's closing quote.
        const next = attrEnd < n ? text.charCodeAt(attrEnd) : GT;
        edits.push({ start: i, end: attrEnd, text: isSpace(next) || next === SLASH || next === GT ? '' : ' ' });
      }
      i = attrEnd;
    }
    for (let k = path.length - 1; k >= 0; k--) {
      danger ||= flags[k] === 1;
      tagEnd[path[k]!] = end;
      dangerAfter[path[k]!] = danger ? 1 : 0;
    }
    return { end, danger };
  }

  // Closing tags of the dangerous elements, by name, in order: where an element's content ends.
  const closings = new Map<string, number[]>();
  for (const m of text.matchAll(CLOSING_TAG)) {
    const name = m[1]!.toLowerCase();
    if (!closings.has(name)) closings.set(name, []);
    closings.get(name)!.push(m.index, m.index + m[0].length);
  }
  function closingAfter(name: string, from: number): number {
    const list = closings.get(name) ?? [];
    let lo = 0, hi = list.length / 2;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (list[2 * mid]! < from) lo = mid + 1; else hi = mid;
    }
    return lo < list.length / 2 ? list[2 * lo + 1]! : -1;
  }

  let removedUntil = 0;
  for (let p = text.indexOf('<'); p >= 0; p = text.indexOf('<', p + 1)) {
    const closing = text.charCodeAt(p + 1) === SLASH;
    const nameStart = closing ? p + 2 : p + 1;
    if (!isLetter(text.charCodeAt(nameStart)) || p < removedUntil) continue;
    DANGEROUS_NAME.lastIndex = nameStart;
    const dangerous = DANGEROUS_NAME.exec(text);
    const tag = readAttributes(t.tagNameEnd[nameStart]!);
    if (mode === 'escape') {
      if (dangerous || tag.danger) edits.push({ start: p, end: p + 1, text: '&lt;' });
    } else if (dangerous) {
      // An element with its content when it is closed, else the tag alone (to the end of the text when it never ends).
      const close = !closing && tag.end !== UNTERMINATED ? closingAfter(dangerous[0].toLowerCase(), tag.end) : -1;
      removedUntil = close >= 0 ? close : tag.end === UNTERMINATED ? n : tag.end;
      edits.push({ start: p, end: removedUntil, text: '' });
    }
  }
  return applyEdits(text, edits);
}

/** Edits applied left to right; overlapping ones merge, replaced by the text of the one reaching furthest. */
function applyEdits(text: string, edits: Edit[]): string {
  if (edits.length === 0) return text;
  edits.sort((a, b) => a.start - b.start || b.end - a.end);
  const out: string[] = [];
  let at = 0;
  let current: Edit | null = null;
  for (const e of edits) {
    if (current && e.start <= current.end) {
      if (e.end > current.end) current = { start: current.start, end: e.end, text: e.text };
      continue;
    }
    if (current) { out.push(text.slice(at, current.start), current.text); at = current.end; }
    current = { ...e };
  }
  out.push(text.slice(at, current!.start), current!.text, text.slice(current!.end));
  return out.join('');
}

export function sanitizeNoteContent(content: string): string {
  let current = content;
  for (let round = 0; round < MAX_PASSES; round++) {
    const next = pass(current, 'remove');
    if (next === current) return next;
    current = next;
  }
  return pass(current, 'escape');
}
