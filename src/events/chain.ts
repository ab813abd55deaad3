import { hash } from 'node:crypto';
import canonicalize from 'canonicalize';
import type { EventRow } from './store.js';

/**
 * The hash chain that makes tampering with stored events evident (docs/architecture.md, "Tamper
 * evidence"). Each event's `hash` is
 *
 *   sha256(previous event of its stream's hash ‖ int8 position ‖ int4 version ‖ int8 created_at µs ‖ c)
 *
 * where the first event of a stream has an empty predecessor, and c, the content digest, is
 * sha256 of the canonical JSON (RFC 8785) of the event's id, stream id, stream type, type, schema
 * version, data and metadata. Node computes c before the append (it has the content, and hashing
 * JSON in PL/pgSQL would cost the append its bar); the statement computes the rest, since only it
 * knows the position, the version, the stream head and the transaction's timestamp.
 *
 * Every stored hash and migration 0029's backfill depend on this definition: changing it means a
 * new migration that re-chains the store, not an edit here.
 */

/** The content an event's digest covers, with data and metadata already in canonical JSON. */
export interface DigestedContent {
  event_id: string;
  stream_id: string;
  stream_type: string;
  type: string;
  schema_version: number;
  data_json: string;
  metadata_json: string;
}

/** Canonical JSON of a JSON value: what the store sends to PostgreSQL and what c covers. */
export function canonicalJson(value: unknown): string {
  const out = canonicalize(value);
  if (out === undefined) throw new Error('an event body must be a JSON value');
  return out;
}

/**
 * c: sha256 of the canonical JSON of the envelope. Written out by hand in canonical key order so
 * data and metadata, already canonical (and sent as such), are not serialized a second time; the
 * result is exactly `canonicalize({data, event_id, metadata, schema_version, stream_id, stream_type, type})`.
 */
export function contentDigest(c: DigestedContent): Buffer {
  const json = `{"data":${c.data_json},"event_id":${JSON.stringify(c.event_id)},"metadata":${c.metadata_json},`
    + `"schema_version":${JSON.stringify(c.schema_version)},"stream_id":${JSON.stringify(c.stream_id)},`
    + `"stream_type":${JSON.stringify(c.stream_type)},"type":${JSON.stringify(c.type)}}`;
  // The one-shot hash: for inputs this small, a Hash object's set-up costs as much as the digest.
  return hash('sha256', json, 'buffer');
}

/** The link hash computed in Node, the same as LINK_HASH_SQL computes it in the append. */
export function linkHash(previous: Buffer | null, position: bigint, version: number, createdMicros: bigint, content: Buffer): Buffer {
  const prev = previous ?? Buffer.alloc(0);
  const input = Buffer.alloc(prev.length + 20 + content.length);
  prev.copy(input, 0);
  input.writeBigInt64BE(position, prev.length);
  input.writeInt32BE(version, prev.length + 8);
  input.writeBigInt64BE(createdMicros, prev.length + 12);
  content.copy(input, prev.length + 20);
  return hash('sha256', input, 'buffer');
}

/** A timestamptz expression as int8 microseconds since the epoch (exact: extract returns numeric). */
export const micros = (ts: string): string => `(extract(epoch from ${ts}) * 1000000)::bigint`;

/** The link hash as SQL over the given expressions (prev bytea, position bigint, version int, created_at timestamptz, c bytea). */
export const linkHashSql = (prev: string, position: string, version: string, createdAt: string, c: string): string =>
  `sha256(${prev} || int8send(${position}) || int4send(${version}) || int8send(${micros(createdAt)}) || ${c})`;

/** A stored event as the chain reads it back: the position and created_at exact, as text. */
export type ChainedRow = Omit<EventRow, 'position' | 'created_at'> & { position: string; created_us: string };

/** The columns of `events <alias>` as a ChainedRow. */
export const chainedColumnsSql = (alias: string): string =>
  ['position::text', 'event_id::text', 'stream_id', 'stream_type', 'version', 'type', 'schema_version', 'data', 'metadata']
    .map((c) => `${alias}.${c}`).join(', ') + `, (${micros(`${alias}.created_at`)})::text as created_us`;

/** The hash a stored event should carry, given its stream predecessor's (null for a stream's first). */
export function expectedHash(row: ChainedRow, previous: Buffer | null): Buffer {
  const c = contentDigest({
    event_id: row.event_id, stream_id: row.stream_id, stream_type: row.stream_type, type: row.type, schema_version: row.schema_version,
    data_json: canonicalJson(row.data), metadata_json: canonicalJson(row.metadata),
  });
  return linkHash(previous, BigInt(row.position), row.version, BigInt(row.created_us), c);
}
