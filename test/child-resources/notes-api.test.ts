import { expect, it } from 'vitest';
import { json } from '../helpers/app.js';
import { eventCount } from '../threat-models/helpers.js';
import { notesSpec } from './kinds.js';
import { describeChildResource } from './suite.js';

describeChildResource(notesSpec, (ctx) => {
  it('keeps markdown whole — line breaks and tabs — and refuses other control characters', async () => {
    const { path, post } = await ctx.collection('notes');
    const markdown = '| a | b |\n|---|---|\r\n| 1\t| <b>2</b> |\n';
    const res = await post({ name: 'n', content: markdown });
    expect(res.status).toBe(201);
    const note = await json(res);
    expect((await json(await ctx.app.request(`${path}/${note.id}`, { token: ctx.reader.token }))).content).toBe(markdown);
    expect((await post({ name: 'n', content: 'bell\u0007' })).status).toBe(400);
    expect((await post({ name: 'n', content: 'x'.repeat(262_145) })).status).toBe(400);
  });

  it('stores content with its dangerous HTML stripped, on create, replace and patch, and refuses content that is nothing else', async () => {
    const { path, post } = await ctx.collection('notes');
    const created = await post({ name: 'n', content: '**bold** <img src=x onerror="alert(1)"><script>steal()</script> <table><tr><td>ok</td></tr></table>' });
    expect(created.status).toBe(201);
    const note = await json(created);
    expect(note.content).toBe('**bold** <img src=x> <table><tr><td>ok</td></tr></table>');
    const put = await ctx.app.request(`${path}/${note.id}`, { method: 'PUT', token: ctx.writer.token, json: { name: 'n', content: '<a href="javascript:x()">a</a>' } });
    expect(put.status).toBe(200);
    expect((await json(put)).content).toBe('<a>a</a>');
    const patched = await ctx.app.request(`${path}/${note.id}`, { method: 'PATCH', token: ctx.writer.token, headers: { 'content-type': 'application/json-patch+json' },
      json: [{ op: 'replace', path: '/content', value: 'x<iframe src="//evil"></iframe>y' }] });
    expect(patched.status).toBe(200);
    expect((await json(await ctx.app.request(`${path}/${note.id}`, { token: ctx.reader.token }))).content).toBe('xy');
    const before = await eventCount(ctx.app);
    const refused = await post({ name: 'n', content: '<script>only()</script>' });
    expect(refused.status).toBe(400);
    expect(await json(refused)).toMatchObject({ error: 'invalid_input' });
    expect(await eventCount(ctx.app)).toBe(before);
  });
});
