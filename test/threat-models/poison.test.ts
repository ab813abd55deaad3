import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { json, startTestApp, type TestApp } from '../helpers/app.js';
import { eventually } from '../helpers/eventually.js';
import { appendPoisonMetadata } from '../helpers/poison.js';
import { signIn } from './helpers.js';

describe('a poison event', () => {
  let app: TestApp;
  beforeAll(async () => { app = await startTestApp({ overrides: { server: { read_your_writes_timeout_ms: 15_000 } } }); });
  afterAll(async () => { await app?.stop(); });

  it('lands in dead_letters for its projector only; the other projectors keep going', async () => {
    const { services } = app.runtime;
    const poison = await appendPoisonMetadata(services, '0190a000-0000-7000-8000-0000000000aa');

    const alice = signIn(app, 'alice');
    const created = await app.request('/threat_models', { method: 'POST', token: alice.token, json: { name: 'After the poison' }, headers: { prefer: 'respond-async' } });
    expect(created.status).toBe(202);
    const position = Number(created.headers.get('x-event-position'));
    expect(await services.progress.waitFor(['threat_models', 'threat_model_access'], position, 15_000)).toBe(true);

    const letters = await eventually('the poison event is dead-lettered', async () => {
      const { rows } = await services.database.pool.query('select projection, event_id, event_type, error, attempts from dead_letters');
      return rows.length > 0 ? rows : null;
    });
    expect(letters).toEqual([{ projection: 'metadata', event_id: poison.events[0]!.event_id, event_type: 'MetadataEntriesSet', error: expect.stringMatching(/check constraint/), attempts: 1 }]);
    const { rows } = await services.database.pool.query<{ name: string; halted_at: string | null }>('select name, halted_at from projection_checkpoints where name = $1', ['metadata']);
    expect(Number(rows[0]!.halted_at)).toBe(poison.position);

    const list = await json(await app.request('/threat_models', { token: alice.token }));
    expect(list.threat_models.map((t: { name: string }) => t.name)).toEqual(['After the poison']);
  });
});
