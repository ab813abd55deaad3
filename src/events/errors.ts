/** The stream was not at the version the writer expected. */
export class VersionConflictError extends Error {
  constructor(
    readonly stream_id: string,
    readonly expected: number | 'no_stream' | 'any',
    readonly actual: number,
  ) {
    super(`stream ${stream_id} is at version ${actual}, expected ${String(expected)}`);
    this.name = 'VersionConflictError';
  }
}

/**
 * A stream the command relied on without appending to it (a StreamCondition) changed before the
 * append: `actual` is the version of the first event that broke the condition. A conflict like any
 * other — decide again against the fresh state.
 */
export class StreamChangedError extends VersionConflictError {
  constructor(stream_id: string, unchangedSince: number, changedAt: number) {
    super(stream_id, unchangedSince, changedAt);
    this.message = `stream ${stream_id} changed at version ${changedAt}, after version ${unchangedSince} the command relied on`;
    this.name = 'StreamChangedError';
  }
}

export class UnknownEventTypeError extends Error {
  constructor(readonly type: string) {
    super(`event type ${type} is not in the catalog`);
    this.name = 'UnknownEventTypeError';
  }
}

/** Event data did not match its catalog schema; a programming error, never user input. */
export class EventSchemaError extends Error {
  constructor(readonly type: string, readonly problems: string[]) {
    super(`event ${type} does not match its schema: ${problems.join('; ')}`);
    this.name = 'EventSchemaError';
  }
}

/** One append (or one transaction) would carry more events than the store takes in one go. */
export class TooManyEventsError extends Error {
  constructor(readonly count: number, readonly max: number) {
    super(`one append may hold at most ${max} events, got ${count}`);
    this.name = 'TooManyEventsError';
  }
}

/**
 * A command id (idempotency key) that was used before came with a different request: replaying
 * the first one's outcome would answer a question the caller did not ask.
 */
export class CommandIdReusedError extends Error {
  constructor(readonly command_id: string) {
    super(`command id ${command_id} was already used for a different request`);
    this.name = 'CommandIdReusedError';
  }
}

/** A group commit carried a command id that another append recorded first: nothing of it was appended. */
export class CommandIdTakenError extends Error {
  constructor() {
    super('a command id of this append was recorded by another append first');
    this.name = 'CommandIdTakenError';
  }
}
