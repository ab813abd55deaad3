import { describe, expect, it } from 'vitest';
import { sanitizeNoteContent } from '../../src/commands/notes/sanitize.js';

describe('note content sanitizing (pure)', () => {
  it('keeps markdown and safe inline HTML byte for byte', () => {
    const safe = '# Title\n\n> quoted, a < b && c > d\n\n| a | b |\n|---|---|\n| <b>1</b> | <svg width="10"><rect x="1"/></svg> |\n\n`<script>` in code is text\n<a href="https://example.com/x?a=1&b=2">link</a> <img src="data:image/png;base64,AAAA">';
    // A dangerous tag is removed even inside a code span: the sanitizer does not parse markdown.
    expect(sanitizeNoteContent(safe)).toBe(safe.replace('<script>', ''));
  });

  it('strips dangerous elements with their content, event handlers and script URLs', () => {
    expect(sanitizeNoteContent('a<script>alert(1)</script>b')).toBe('ab');
    expect(sanitizeNoteContent('a<IFRAME src="//x"></iframe>b<embed src=x>c')).toBe('abc');
    expect(sanitizeNoteContent('<img src=x onerror="alert(1)" alt="y">')).toBe('<img src=x alt="y">');
    expect(sanitizeNoteContent('<svg/onload=alert(1)>')).toBe('<svg>');
    expect(sanitizeNoteContent('<a href="javascript:alert(1)">x</a>')).toBe('<a>x</a>');
    expect(sanitizeNoteContent('<a href="jav&#x61;script&colon;alert(1)">x</a>')).toBe('<a>x</a>');
    expect(sanitizeNoteContent("<a href=' java\tscript:alert(1)'>x</a>")).toBe('<a>x</a>');
    expect(sanitizeNoteContent('<a href="data:text/html,<script>x</script>">x</a>')).not.toContain('data:text/html');
    // A quoted `>` does not end a tag for a browser, so it must not end it for the sanitizer.
    expect(sanitizeNoteContent('<img alt=">" onerror=alert(1)>')).toBe('<img alt=">">');
    expect(sanitizeNoteContent("<a title='a>b' href=\"javascript:alert(1)\" onclick=x>y</a>")).toBe("<a title='a>b'>y</a>");
    expect(sanitizeNoteContent('<script type=">">alert(1)</script>ok')).toBe('ok');
  });

  it('does not let a removal splice a new dangerous tag together', () => {
    const out = sanitizeNoteContent('<scr<script></script>ipt>alert(1)</scr<script></script>ipt>');
    expect(out.toLowerCase()).not.toContain('<script');
    expect(sanitizeNoteContent('<img src=x o<script></script>nerror=alert(1)>').toLowerCase()).not.toMatch(/onerror\s*=/);
  });
});
