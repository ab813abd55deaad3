/**
 * PostgreSQL's COPY text format (https://www.postgresql.org/docs/current/sql-copy.html, "Text
 * Format"): one row a line, columns separated by tabs, `\N` for NULL, and backslash escapes for
 * the characters that would otherwise end a column or a row. Used by the rebuild's bulk read
 * (COPY … TO STDOUT) and bulk writes (COPY … FROM STDIN), which skip the per-row protocol
 * parsing of a SELECT and the JSON of an insert's parameter.
 */

export const COPY_NULL = '\\N';

const SIMPLE_ESCAPES: Readonly<Record<string, string>> = { b: '\b', f: '\f', n: '\n', r: '\r', t: '\t', v: '\v' };

/** One column of a COPY text row as its value: null for `\N`, the escapes undone. */
export function decodeCopyField(field: string): string | null {
  if (field === COPY_NULL) return null;
  if (!field.includes('\\')) return field;
  // Octal and hex escapes name bytes (a character of several may be spelt as several): decoded on bytes. PostgreSQL's own output never has them.
  if (/\\(?:[0-7]|x[0-9a-fA-F])/.test(field)) return decodeBytes(field);
  let out = '';
  let from = 0;
  for (let at = field.indexOf('\\'); at !== -1 && at < field.length - 1; at = field.indexOf('\\', from)) {
    const c = field[at + 1]!;
    out += field.slice(from, at) + (SIMPLE_ESCAPES[c] ?? c);
    from = at + 2;
  }
  return out + field.slice(from);
}

function decodeBytes(field: string): string {
  const src = Buffer.from(field, 'utf8');
  const out = Buffer.alloc(src.length);
  let n = 0;
  const isOctal = (b: number | undefined) => b !== undefined && b >= 0x30 && b <= 0x37;
  const hexValue = (b: number | undefined) => {
    if (b === undefined) return -1;
    const lower = b | 0x20;
    return b >= 0x30 && b <= 0x39 ? b - 0x30 : lower >= 0x61 && lower <= 0x66 ? lower - 0x57 : -1;
  };
  for (let i = 0; i < src.length; i++) {
    if (src[i] !== 0x5c || i === src.length - 1) { out[n++] = src[i]!; continue; }
    const c = src[++i]!;
    if (isOctal(c)) {
      let v = c - 0x30;
      for (let k = 0; k < 2 && isOctal(src[i + 1]); k++) v = v * 8 + (src[++i]! - 0x30);
      out[n++] = v & 0xff;
    } else if (c === 0x78 && hexValue(src[i + 1]) >= 0) {
      let v = hexValue(src[++i]);
      if (hexValue(src[i + 1]) >= 0) v = v * 16 + hexValue(src[++i]);
      out[n++] = v;
    } else {
      const simple = SIMPLE_ESCAPES[String.fromCharCode(c)];
      out[n++] = simple ? simple.charCodeAt(0) : c;
    }
  }
  return out.subarray(0, n).toString('utf8');
}

/** A COPY text row's columns as values (a line without its newline). */
export function decodeCopyLine(line: string): (string | null)[] {
  return line.split('\t').map(decodeCopyField);
}

const NEEDS_ESCAPE = /[\\\n\r\t]/;
const ESCAPED: Readonly<Record<string, string>> = { '\\': '\\\\', '\n': '\\n', '\r': '\\r', '\t': '\\t' };

/** A value as one column of a COPY text row: null as `\N`, the characters that end a column or a row escaped. */
export function encodeCopyField(value: string | null): string {
  if (value === null) return COPY_NULL;
  return NEEDS_ESCAPE.test(value) ? value.replace(/[\\\n\r\t]/g, (c) => ESCAPED[c]!) : value;
}

/**
 * A JavaScript array as a PostgreSQL array literal (`{"a",NULL,"b \"c\""}`): every element quoted
 * (so commas, braces, spaces and the word NULL stay text), null as NULL, nested arrays as
 * sub-arrays. `element` turns a non-null element into its text.
 */
export function arrayLiteral(values: readonly unknown[], element: (v: unknown) => string): string {
  const parts = values.map((v) => {
    if (v === null || v === undefined) return 'NULL';
    if (Array.isArray(v)) return arrayLiteral(v, element);
    return `"${element(v).replace(/["\\]/g, '\\$&')}"`;
  });
  return `{${parts.join(',')}}`;
}
