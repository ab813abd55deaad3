/**
 * TMI's rule for note content: markdown in which safe inline HTML (tables, SVG, formatting)
 * is kept and dangerous HTML — elements that run or embed other documents, event-handler
 * attributes, script URLs — is stripped. Only what is dangerous is touched: the markdown
 * around it (`>` quotes, `<` in prose, code) stays byte for byte, which an HTML sanitizer that
 * re-serialises the text would not keep. Repeated until nothing changes, so a removal cannot
 * splice a new dangerous tag together (`<scr<script></script>ipt>`). Markdown is not parsed: a
 * dangerous tag written inside a code span is removed too.
 */
const DANGEROUS_ELEMENTS = 'script|iframe|frame|frameset|object|embed|applet|base|meta|link|noscript';
// A tag's attributes, where a quoted value may hold `>`: a browser does not end the tag there, so neither may the patterns.
const ATTRIBUTES = `(?:"[^"]*"|'[^']*'|[^'">])*`;
const ELEMENT_WITH_CONTENT = new RegExp(`<(${DANGEROUS_ELEMENTS})\\b${ATTRIBUTES}>[\\s\\S]*?<\\/\\1\\s*>`, 'gi');
const LONE_TAG = new RegExp(`<\\/?(?:${DANGEROUS_ELEMENTS})\\b${ATTRIBUTES}>?`, 'gi');
const TAG = new RegExp(`<[a-zA-Z][a-zA-Z0-9:-]*\\b${ATTRIBUTES}>`, 'g');
const EVENT_HANDLER = /[\s/]+on[a-z]+\s*=\s*(?:"[^"]*"|'[^']*'|[^\s>]+)/gi;
const URL_ATTRIBUTE = /([\s/]+(?:href|src|xlink:href|action|formaction|background|poster)\s*=\s*)("[^"]*"|'[^']*'|[^\s>]+)/gi;

/** What a browser would read the URL as, for the scheme check: entities decoded, whitespace and controls dropped. */
function urlAsRead(value: string): string {
  const unquoted = /^["']/.test(value) ? value.slice(1, -1) : value;
  return unquoted
    .replace(/&#x([0-9a-f]+);?/gi, (_, h: string) => String.fromCodePoint(Number.parseInt(h, 16)))
    .replace(/&#(\d+);?/g, (_, d: string) => String.fromCodePoint(Number(d)))
    .replace(/&(colon|tab|newline);/gi, (_, n: string) => ({ colon: ':', tab: '', newline: '' })[n.toLowerCase() as 'colon'])
    .replace(/[\s\u0000-\u001f]+/g, '')
    .toLowerCase();
}

const scriptUrl = (value: string): boolean => /^(?:javascript|vbscript|livescript):|^data:(?!image\/(?:png|gif|jpeg|webp);)/.test(urlAsRead(value));

function cleanTag(tag: string): string {
  return tag.replace(EVENT_HANDLER, '').replace(URL_ATTRIBUTE, (whole, _name: string, value: string) => (scriptUrl(value) ? '' : whole));
}

export function sanitizeNoteContent(content: string): string {
  let current = content;
  for (let round = 0; round < 20; round++) {
    const next = current.replace(ELEMENT_WITH_CONTENT, '').replace(LONE_TAG, '').replace(TAG, cleanTag);
    if (next === current) return next;
    current = next;
  }
  return current;
}
