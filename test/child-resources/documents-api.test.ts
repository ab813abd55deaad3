import { expect, it } from 'vitest';
import { assertContractMembers, assertConforms } from '../contract/contract.js';
import { json } from '../helpers/app.js';
import { eventCount } from '../threat-models/helpers.js';
import { documentsSpec } from './kinds.js';
import { describeChildResource } from './suite.js';

const P = '/threat_models/{threat_model_id}/documents';

describeChildResource(documentsSpec, (ctx) => {
  it('answers a create it does not wait for with the contract\'s 202 body, {document, job_id}', async () => {
    const { path } = await ctx.collection('documents');
    const res = await ctx.app.request(path, { method: 'POST', token: ctx.writer.token, headers: { prefer: 'respond-async' }, json: documentsSpec.valid });
    expect(res.status).toBe(202);
    const body = await json(res);
    assertConforms('POST', P, 202, body);
    assertContractMembers('POST', P, 202, body);
    expect(body).toEqual({ document: expect.objectContaining(documentsSpec.created), job_id: body.document.id });
    const later = await ctx.app.request(`${path}/${body.document.id}`, { token: ctx.reader.token, headers: { 'x-min-position': res.headers.get('x-event-position')! } });
    expect(await json(later)).toEqual(body.document);
  });

  it('refuses a picker registration (no content provider here) and a null one (the contract admits none), and writes nothing', async () => {
    const { post } = await ctx.collection('documents');
    const before = await eventCount(ctx.app);
    const picker = { provider_id: 'google_workspace', file_id: 'abc', mime_type: 'application/pdf' };
    const res = await post({ ...documentsSpec.valid, picker_registration: picker });
    expect(res.status).toBe(400);
    const body = await json(res);
    assertConforms('POST', P, 400, body);
    expect(body.error_description).toMatch(/picker_registration/);
    expect((await post({ ...documentsSpec.valid, picker_registration: { ...picker, provider_id: 'dropbox' } })).status).toBe(400);
    const nulled = await post({ ...documentsSpec.valid, picker_registration: null });
    expect(nulled.status).toBe(400);
    const error = await json(nulled);
    assertConforms('POST', P, 400, error);
    expect(error.error_description).toMatch(/picker_registration/);
    expect(await eventCount(ctx.app)).toBe(before);
    expect((await post({ ...documentsSpec.valid, description: null })).status).toBe(201);
  });
});
