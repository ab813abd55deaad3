import type { TSchema } from '@sinclair/typebox';
import { TypeCompiler, type TypeCheck } from '@sinclair/typebox/compiler';
import { EventSchemaError, UnknownEventTypeError } from './errors.js';

/** Turns the data of version `from` into the shape of version `from + 1`. */
export type Upcaster = (data: unknown) => unknown;

interface EventTypeEntry {
  type: string;
  version: number;
  check: TypeCheck<TSchema>;
  /** upcasters[v] lifts data stored at version v to v + 1. */
  upcasters: Map<number, Upcaster>;
}

export interface EventDefinition<S extends TSchema = TSchema> {
  type: string;
  /** Current schema version; events are always written at this version. */
  version: number;
  schema: S;
  upcasters?: Record<number, Upcaster>;
}

/**
 * Every event type the store accepts, with its current schema version. Events are forever:
 * changing a stored shape means a new version plus an upcaster from the old one.
 */
export class EventCatalog {
  private readonly entries = new Map<string, EventTypeEntry>();

  register(...definitions: EventDefinition[]): this {
    for (const def of definitions) {
      if (this.entries.has(def.type)) throw new Error(`event type ${def.type} registered twice`);
      for (let v = 1; v < def.version; v++) {
        if (!def.upcasters?.[v]) throw new Error(`event type ${def.type} v${def.version} lacks an upcaster from v${v}`);
      }
      this.entries.set(def.type, {
        type: def.type,
        version: def.version,
        check: TypeCompiler.Compile(def.schema),
        upcasters: new Map(Object.entries(def.upcasters ?? {}).map(([v, f]) => [Number(v), f])),
      });
    }
    return this;
  }

  has(type: string): boolean {
    return this.entries.has(type);
  }

  types(): string[] {
    return [...this.entries.keys()];
  }

  /** Validates data for writing and returns the schema version it is written at. */
  validate(type: string, data: unknown): number {
    const entry = this.entry(type);
    if (!entry.check.Check(data)) {
      throw new EventSchemaError(type, [...entry.check.Errors(data)].slice(0, 5).map((e) => `${e.path || '/'} ${e.message}`));
    }
    return entry.version;
  }

  /** Lifts stored data through the upcasters to the current version. */
  upcast(type: string, schemaVersion: number, data: unknown): { version: number; data: unknown } {
    const entry = this.entries.get(type);
    if (!entry) return { version: schemaVersion, data };
    let current = data;
    for (let v = schemaVersion; v < entry.version; v++) {
      const up = entry.upcasters.get(v);
      if (!up) throw new Error(`no upcaster for ${type} v${v}`);
      current = up(current);
    }
    return { version: entry.version, data: current };
  }

  private entry(type: string): EventTypeEntry {
    const entry = this.entries.get(type);
    if (!entry) throw new UnknownEventTypeError(type);
    return entry;
  }
}
