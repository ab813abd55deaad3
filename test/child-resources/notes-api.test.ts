import { expect, it } from 'vitest';
import { json } from '../helpers/app.js';
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
});
