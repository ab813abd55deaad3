import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { executeCommand, type CommandOptions } from '../../src/application/execute-command.js';
import { THREAT_MODEL_PROJECTIONS, threatModelDecider } from '../../src/application/threat-models.js';
import { DomainError } from '../../src/commands/errors.js';
import { threatModelStreamId } from '../../src/commands/threat-models/index.js';
import { startTestApp, type TestApp } from '../helpers/app.js';
import { testMetadata } from '../helpers/events.js';
import { caller } from './fixtures.js';

describe('executeCommand on a fresh stream id', () => {
  let app: TestApp;
  beforeAll(async () => { app = await startTestApp(); });
  afterAll(async () => { await app?.stop(); });

  it('skips reading the stream, yet a create on an id that exists is still refused as a conflict', async () => {
    const id = '0190a000-0000-7000-8000-0000000000ff';
    const options: CommandOptions = {
      streamId: threatModelStreamId(id), newStream: true, expectedVersion: null, commandId: null,
      metadata: testMetadata(), projections: THREAT_MODEL_PROJECTIONS, waitForProjections: false,
    };
    const create = (alias: number) => executeCommand(app.runtime.services, threatModelDecider,
      { type: 'CreateThreatModel', threat_model_id: id, alias, input: { name: 'Fresh' }, caller: caller('alice'), now: new Date().toISOString() }, options);
    expect((await create(1)).version).toBe(1);
    const second = await create(2).catch((err: unknown) => err);
    expect(second).toBeInstanceOf(DomainError);
    expect((second as DomainError).kind).toBe('conflict');
    expect((await app.runtime.services.store.readStream(options.streamId)).map((e) => e.data)).toMatchObject([{ alias: 1 }]);
  });
});
