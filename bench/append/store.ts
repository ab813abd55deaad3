import { Type } from '@sinclair/typebox';
import { EventCatalog } from '../../src/events/catalog.js';
import { EventStore } from '../../src/events/store.js';
import { openDatabase } from '../../src/infra/database.js';
import { BENCH_EVENT_TYPE, BENCH_METADATA, BENCH_STREAM_TYPE, applicationName, benchEventData, type SystemUnderTest } from './workload.js';

// A catalog of its own: the bench must not depend on (or register into) the product's event types.
const catalog = new EventCatalog().register({
  type: BENCH_EVENT_TYPE,
  version: 1,
  schema: Type.Object({
    threat_model_id: Type.String({ minLength: 1 }),
    threat_id: Type.String({ minLength: 1 }),
    name: Type.String({ minLength: 1, maxLength: 256 }),
    severity: Type.String(),
    n: Type.Integer({ minimum: 0 }),
  }, { additionalProperties: false }),
});

/** The project's EventStore, exactly as the service uses it (validation, uuid v7, idempotency columns). */
export const projectStore: SystemUnderTest = {
  tag: 'store',
  name: 'EventStore',
  async setup() {
    // The project's migrations already ran on the bench database.
  },
  async open(url, workload, writers, streams) {
    const database = openDatabase(url, { max: writers, applicationName: applicationName(projectStore) });
    const store = new EventStore(database.pool, catalog);
    // Open every connection up front so connection set-up is not timed.
    await Promise.all(Array.from({ length: writers }, () => database.pool.connect())).then((cs) => cs.forEach((c) => c.release()));
    return {
      async op(w) {
        const { stream_id, expected, seq } = streams.next(w);
        const events = Array.from({ length: workload.batch }, (_, i) => ({ type: BENCH_EVENT_TYPE, data: benchEventData(seq * workload.batch + i) }));
        await store.appendToStream(
          { stream_id, stream_type: BENCH_STREAM_TYPE, expected: expected === 0 ? 'no_stream' : expected, events },
          { metadata: BENCH_METADATA },
        );
        streams.committed(w, workload.batch);
        return workload.batch;
      },
      close: () => database.close(),
    };
  },
};
