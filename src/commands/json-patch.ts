import fastJsonPatch from 'fast-json-patch';
import type { TSchema } from '@sinclair/typebox';
import type { TypeCheck } from '@sinclair/typebox/compiler';
import { conflict, invalid } from './errors.js';

export interface PatchOperation {
  op: 'add' | 'remove' | 'replace' | 'move' | 'copy' | 'test';
  path: string;
  value?: unknown;
  from?: string;
}

/** The top-level member a JSON Pointer addresses, unescaped (RFC 6901). */
export function topMember(pointer: string): string | null {
  if (!pointer.startsWith('/')) return null;
  const first = pointer.slice(1).split('/')[0]!;
  return first.replace(/~1/g, '/').replace(/~0/g, '~');
}

/**
 * Applies RFC 6902 operations to a copy of the document, refusing as the API answers: a failed
 * `test` is a conflict (the resource is not as the client thought), anything else malformed is
 * invalid input.
 */
export function applyJsonPatch(document: Record<string, unknown>, operations: readonly PatchOperation[]): Record<string, unknown> {
  if (operations.length === 0) throw invalid('the patch document is empty');
  try {
    return fastJsonPatch.applyPatch(structuredClone(document), operations as fastJsonPatch.Operation[], true, false).newDocument as Record<string, unknown>;
  } catch (err) {
    const e = err as { name?: string; message?: string };
    if (e.name === 'TEST_OPERATION_FAILED') throw conflict('a patch test operation failed');
    throw invalid(`invalid patch: ${(e.message ?? String(err)).split('\n')[0]}`);
  }
}

/** Refuses a value that does not satisfy the writable schema, naming the first offending path. */
export function checkPatched<T>(check: TypeCheck<TSchema>, value: unknown, what: string): asserts value is T {
  if (check.Check(value)) return;
  const first = check.Errors(value).First();
  throw invalid(`patched ${what} is invalid at ${first?.path || '/'}: ${first?.message ?? 'invalid value'}`);
}
