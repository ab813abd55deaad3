/** Who caused an event and in which request/trace; carried on every event. */
export interface EventMetadata {
  /**
   * `provider_id` and `display_name` are recorded since the audit trail (its AuditActor names them);
   * events from before lack them, and the trail fills them in from the user's record.
   */
  actor: { user_id: string | null; email: string | null; provider: string | null; provider_id?: string | null; display_name?: string | null };
  trace_id: string | null;
  correlation_id: string | null;
  causation_id: string | null;
  request_id: string | null;
  /** The command id that produced this event, when the command was idempotent-keyed. */
  command_id?: string | null;
  /**
   * How a change was asked for where the event types do not say it: a PUT (`updated`), a PATCH
   * (`patched`) or a rollback to an audit entry (`rolled_back`, naming the entry and its version).
   * Absent on creates, deletes and restores (their types say it) and on events from before.
   */
  change?: ChangeKind;
  rolled_back_to?: { entry_id: string; version: number };
}

export type ChangeKind = 'updated' | 'patched' | 'rolled_back';

/** An event a decider produced, before it has a place in the store. */
export interface NewEvent<T extends string = string, D = unknown> {
  type: T;
  data: D;
}

/** An event as stored and read back. `position` is its place in the global order. */
export interface StoredEvent<T extends string = string, D = unknown> {
  position: number;
  event_id: string;
  stream_id: string;
  stream_type: string;
  version: number;
  type: T;
  schema_version: number;
  data: D;
  metadata: EventMetadata;
  created_at: Date;
}

/**
 * What the writer believes about the stream: `any` skips the check, `no_stream` demands
 * the stream be new, a number demands the stream's current version be exactly that.
 */
export type ExpectedVersion = 'any' | 'no_stream' | number;

export interface StreamAppend {
  stream_id: string;
  stream_type: string;
  expected: ExpectedVersion;
  events: NewEvent[];
}

/**
 * A stream the command decided against but does not append to (a child's parent, whose access
 * list authorized the write): the append goes through only if the stream has no event of the
 * given types (any type when absent) after `unchanged_since`, checked in the append's own statement.
 */
export interface StreamCondition {
  stream_id: string;
  unchanged_since: number;
  types?: readonly string[];
}

export interface AppendResult {
  /** Global position of the last event appended (0 when nothing was appended). */
  position: number;
  streams: { stream_id: string; version: number; first_position: number }[];
  events: StoredEvent[];
  /** True when the command id had already been used and the original result was returned. */
  replayed: boolean;
}
