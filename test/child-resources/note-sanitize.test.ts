import { describe, expect, it, vi } from 'vitest';
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

  it('reads an attribute name after a closing quote, as an HTML tokenizer does', () => {
    expect(sanitizeNoteContent('<img src="x"onerror=alert(1)>')).toBe('<img src="x">');
    expect(sanitizeNoteContent('<a href="x"onclick="alert(1)">y</a>')).toBe('<a href="x">y</a>');
    expect(sanitizeNoteContent('<a title="x"href="javascript:alert(1)">y</a>')).toBe('<a title="x">y</a>');
    expect(sanitizeNoteContent("<a title='x'href='javascript:alert(1)'>y</a>")).toBe("<a title='x'>y</a>");
    expect(sanitizeNoteContent("<a href='x'onclick='alert(1)'>y</a>")).toBe("<a href='x'>y</a>");
    // The attribute after the removed one stays an attribute of its own.
    expect(sanitizeNoteContent('<a x="1"onclick="2"y=3>z</a>')).toBe('<a x="1" y=3>z</a>');
    // A quote where a name starts is part of the name, not a value: what follows `">"` is still in the tag.
    expect(sanitizeNoteContent('<a "x=">" onclick=alert(1)>y</a>')).toBe('<a "x=">">y</a>');
    // `<` in an unquoted value does not end the tag.
    expect(sanitizeNoteContent('<img src=x< onerror=alert(1)>')).toBe('<img src=x<>');
    expect(sanitizeNoteContent('<A HREF="JaVaScRiPt:x" ONCLICK=y>z</A>')).toBe('<A>z</A>');
  });

  it('strips SVG animation values that would set a script URL, keeping harmless ones', () => {
    expect(sanitizeNoteContent('<svg><a><set attributeName="href" to="javascript:alert(1)"/>x</a></svg>')).toBe('<svg><a><set attributeName="href"/>x</a></svg>');
    expect(sanitizeNoteContent('<animate attributeName="href" values="#a;javascript:alert(1)">')).toBe('<animate attributeName="href">');
    expect(sanitizeNoteContent('<animate attributeName="href" values="0;&#106;avascript:x;1" from="&#106;avascript:x">')).toBe('<animate attributeName="href">');
    const harmless = '<animate attributeName="opacity" values="0;0.5;1" from="0" to="1" by="0.1">';
    expect(sanitizeNoteContent(harmless)).toBe(harmless);
  });

  it('leaves text inside a quoted value alone: it is no attribute', () => {
    for (const safe of ['<a title="say onclick=hi">x</a>', "<a title='say\" href=javascript:x'>x</a>", '<a title="x" data-on="href=javascript:y">z</a>']) {
      expect(sanitizeNoteContent(safe)).toBe(safe);
    }
    // A tag written inside a value is read too (a markdown renderer refusing the outer tag finds it) and cleaned.
    expect(sanitizeNoteContent('<a title="<img src=x onerror=alert(1)>"x=">">')).toBe('<a title="<img src=x>"x=">">');
  });

  it('cleans a tag that never ends, without eating the prose after it', () => {
    expect(sanitizeNoteContent('<div onclick=alert(1)')).toBe('<div');
    expect(sanitizeNoteContent('a <b only once')).toBe('a <b only once');
    expect(sanitizeNoteContent('x<script src=x')).toBe('x');
  });

  it('does not throw on a character reference past the last code point', () => {
    expect(sanitizeNoteContent('<a href="&#x110000;">x</a>')).toBe('<a href="&#x110000;">x</a>');
    expect(sanitizeNoteContent('<a href="&#99999999999;">x</a>')).toBe('<a href="&#99999999999;">x</a>');
  });

  it('escapes what is still being spliced together after the last pass', () => {
    const out = sanitizeNoteContent(`${'<scr'.repeat(40)}<script></script>${'ipt>'.repeat(40)}`);
    expect(out.toLowerCase()).not.toContain('<script');
    expect(sanitizeNoteContent(out)).toBe(out);
  });
});

describe('note content sanitizing is linear (256 KiB, the largest content)', () => {
  const size = 262_144;
  const fill = (unit: string) => unit.repeat(Math.ceil(size / unit.length)).slice(0, size);
  // Each took seconds to minutes before (every unended tag was read to the end of the text); the test timeout is the guard.
  const cases: [string, string, (out: string) => void][] = [
    ['<a', fill('<a'), (out) => expect(out).toBe(fill('<a'))],
    ['<script ', fill('<script '), (out) => expect(out).toBe('')],
    ['<a "', fill('<a "'), (out) => expect(out).toBe(fill('<a "'))],
    ['<a x="', fill('<a x="'), (out) => expect(out).toBe(fill('<a x="'))],
    ['<a x=\'<b y="\'"', fill('<a x=\'<b y="\'"'), (out) => expect(out).toBe(fill('<a x=\'<b y="\'"'))],
    ['<b/href=', fill('<b/href='), (out) => expect(out).toBe(fill('<b/href='))],
    ['<img src=x onerror=1 ', fill('<img src=x onerror=1 '), (out) => expect(out).not.toMatch(/onerror=/)],
    ['<iframe>', fill('<iframe>'), (out) => expect(out).toBe('')],
    ['<scr…<script></script>…ipt>', `${'<scr'.repeat(32_000)}<script></script>${'ipt>'.repeat(32_000)}`, (out) => expect(out.toLowerCase()).not.toContain('<script')],
  ];
  for (const [name, input, check] of cases) {
    it(`${name} repeated`, { timeout: 5000 }, () => {
      const log = vi.spyOn(console, 'log');
      const warn = vi.spyOn(console, 'warn');
      const error = vi.spyOn(console, 'error');
      check(sanitizeNoteContent(input));
      expect([log, warn, error].map((spy) => spy.mock.calls.length)).toEqual([0, 0, 0]);
      vi.restoreAllMocks();
    });
  }
});
