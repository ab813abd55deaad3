import { describe, expect, it } from 'vitest';
import { arrayLiteral, decodeCopyField, decodeCopyLine, encodeCopyField } from '../../src/infra/copy-text.js';

describe('COPY text format', () => {
  it('decodes NULL, and text without escapes as it is', () => {
    expect(decodeCopyField('\\N')).toBeNull();
    expect(decodeCopyField('')).toBe('');
    expect(decodeCopyField('plain text')).toBe('plain text');
    expect(decodeCopyField('N')).toBe('N');
  });

  it('undoes the backslash escapes PostgreSQL writes', () => {
    expect(decodeCopyField('a\\tb\\nc\\rd\\\\e')).toBe('a\tb\nc\rd\\e');
    expect(decodeCopyField('\\b\\f\\v')).toBe('\b\f\v');
    // A JSON string holding an escaped quote and a backslash: jsonb's text, then COPY's escaping of its backslashes.
    expect(JSON.parse(decodeCopyField('{"k": "say \\\\"hi\\\\" \\\\\\\\ done"}')!)).toEqual({ k: 'say "hi" \\ done' });
    // "\\N" is the text \N, not NULL.
    expect(decodeCopyField('\\\\N')).toBe('\\N');
    // Any other escaped character stands for itself.
    expect(decodeCopyField('\\.\\a')).toBe('.a');
  });

  it('decodes octal and hex escapes as bytes, several of which may make one character', () => {
    expect(decodeCopyField('\\101\\x42')).toBe('AB');
    expect(decodeCopyField('\\303\\251t\\xc3\\xa9')).toBe('été');
    expect(decodeCopyField('\\1x')).toBe('\u0001x');
  });

  it('keeps characters outside ASCII, including ones of four UTF-8 bytes', () => {
    const text = 'Zürich — 東京 😀 \\ tab';
    expect(decodeCopyField(encodeCopyField(text))).toBe(text);
    expect(decodeCopyField('Zürich\\t😀')).toBe('Zürich\t😀');
  });

  it('splits a line into its columns, a tab inside a value being escaped', () => {
    expect(decodeCopyLine('1\ta\\tb\t\\N\t')).toEqual(['1', 'a\tb', null, '']);
  });

  it('encodes NULL and the characters that end a column or a row', () => {
    expect(encodeCopyField(null)).toBe('\\N');
    expect(encodeCopyField('\\N')).toBe('\\\\N');
    expect(encodeCopyField('a\tb\nc\rd\\e')).toBe('a\\tb\\nc\\rd\\\\e');
    expect(encodeCopyField('\\.')).toBe('\\\\.');
    expect(encodeCopyField('plain')).toBe('plain');
  });

  it('round-trips tricky values through encode and decode', () => {
    for (const v of ['', ' ', '\\', '\\\\', '\t', '\n\n', '\r\n', 'x\\ny', '{"a":"b\\"c"}', 'NULL', '\\N', '🙂\t🙂', '\u0000'.slice(1)]) {
      expect(decodeCopyField(encodeCopyField(v)), JSON.stringify(v)).toBe(v);
    }
  });

  it('writes arrays as quoted literals: NULL, quotes, backslashes, commas, braces and nesting', () => {
    expect(arrayLiteral([], String)).toBe('{}');
    expect(arrayLiteral(['a', null, 'NULL', 'b,c', '{d}', 'say "x"', 'back\\slash'], String))
      .toBe('{"a",NULL,"NULL","b,c","{d}","say \\"x\\"","back\\\\slash"}');
    expect(arrayLiteral([[1, 2], [3, null]], String)).toBe('{{"1","2"},{"3",NULL}}');
  });
});
