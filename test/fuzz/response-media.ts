// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Json = any;

/**
 * The media types an OpenAPI document declares for an operation's answer with that status (its
 * `default` when the status is not listed): [] when it declares no body, null when it does not
 * list the status at all (the schema check says so).
 */
export function declaredMediaTypes(doc: Json, method: string, path: string, status: number): string[] | null {
  let response = doc.paths?.[path]?.[method]?.responses?.[String(status)] ?? doc.paths?.[path]?.[method]?.responses?.default;
  while (response && typeof response.$ref === 'string') {
    response = response.$ref.slice(2).split('/').reduce((o: Json, k: string) => o?.[k.replace(/~1/g, '/').replace(/~0/g, '~')], doc);
  }
  if (!response) return null;
  return Object.keys(response.content ?? {}).map((t) => t.toLowerCase());
}

/** Whether a Content-Type answers one of the declared media types (its parameters, such as charset, aside). */
export const isDeclared = (contentType: string, declared: string[]): boolean =>
  declared.includes(contentType.split(';')[0]!.trim().toLowerCase());
