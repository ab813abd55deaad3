import { expect, it } from 'vitest';
import { assertConforms } from '../contract/contract.js';
import { json } from '../helpers/app.js';
import { eventCount } from '../threat-models/helpers.js';
import { repositoriesSpec } from './kinds.js';
import { describeChildResource } from './suite.js';

const P = '/threat_models/{threat_model_id}/repositories';

describeChildResource(repositoriesSpec, (ctx) => {
  it('takes the contract\'s repository types and parameters, and nothing else', async () => {
    const { post } = await ctx.collection('repositories');
    const uri = 'https://svn.example.com/payments';
    const before = await eventCount(ctx.app);
    for (const bad of [
      { uri, parameters: null },
      { uri, parameters: { refType: 'revision', refValue: '42' } },
      { uri, parameters: { refType: 'branch' } },
      { uri, parameters: { refType: 'branch', refValue: 'trunk', depth: 1 } },
      { uri, name: '' },
      { uri, type: 'GIT' },
    ]) {
      const res = await post(bad);
      expect(res.status, JSON.stringify(bad)).toBe(400);
      assertConforms('POST', P, 400, await json(res));
    }
    expect(await eventCount(ctx.app)).toBe(before);
    for (const type of ['git', 'svn', 'mercurial', 'other']) {
      const res = await post({ uri, type, parameters: { refType: 'commit', refValue: 'abc123' } });
      expect(res.status).toBe(201);
      expect(await json(res)).toMatchObject({ type, parameters: { refType: 'commit', refValue: 'abc123' } });
    }
  });

  it('refuses a null type wherever a repository is written, as the contract\'s enum does; its nullable members still take null (whole-API fuzzing finding)', async () => {
    const { path, post } = await ctx.collection('repositories');
    const uri = 'https://github.com/example/typed';
    const created = await post({ uri, type: 'git' });
    expect(created.status).toBe(201);
    const { id } = await json(created);
    const before = await eventCount(ctx.app);
    for (const [method, at, body, contentType] of [
      ['POST', path, { uri, type: null }],
      ['PUT', `${path}/${id}`, { uri, type: null }],
      ['POST', `${path}/bulk`, [{ uri }, { uri, type: null }]],
      ['PUT', `${path}/bulk`, [{ id, name: 'n', uri, type: null }]],
      ['PATCH', `${path}/${id}`, [{ op: 'replace', path: '/type', value: null }], 'application/json-patch+json'],
    ] as const) {
      const res = await ctx.app.request(at, { method, token: ctx.writer.token, headers: { 'content-type': contentType ?? 'application/json' }, body: JSON.stringify(body) });
      expect(res.status, `${method} ${at}`).toBe(400);
      const error = await json(res);
      expect(error).toMatchObject({ error: 'invalid_input' });
      expect(error.error_description, `${method} ${at}`).toMatch(/type/);
    }
    expect(await eventCount(ctx.app)).toBe(before);
    const nulls = await post({ uri, name: null, description: null });
    expect(nulls.status).toBe(201);
    const repo = await json(nulls);
    assertConforms('POST', P, 201, repo);
    expect(repo).not.toHaveProperty('name');
    expect(repo).not.toHaveProperty('description');
  });

  it('requires a name in each bulk update item, as RepositoryBulkUpdateItem does (null is a name left unset)', async () => {
    const { path } = await ctx.collection('repositories');
    const put = (body: unknown) => ctx.app.request(`${path}/bulk`, { method: 'PUT', token: ctx.writer.token, json: body });
    const id = '0190b000-0000-7000-8000-0000000000a1';
    expect((await put([{ id, uri: 'https://github.com/example/a' }])).status).toBe(400);
    const res = await put([{ id, name: null, uri: 'https://github.com/example/a' }]);
    expect(res.status).toBe(200);
    const [repo] = await json(res);
    expect(repo).toMatchObject({ id, uri: 'https://github.com/example/a' });
    expect(repo).not.toHaveProperty('name');
  });
});
