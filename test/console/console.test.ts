import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { json, startTestApp, type TestApp } from '../helpers/app.js';
import { launchChromium } from '../helpers/chromium.js';
import { sessionOn } from '../helpers/collaboration.js';
import { eventually } from '../helpers/eventually.js';
import { appendPoisonMetadata } from '../helpers/poison.js';
import { signIn } from '../threat-models/helpers.js';

/** The operator console end to end in headless Chromium: sign-in through the OAuth flow, each view, a dead letter retried. */
describe('the operator console', () => {
  let app: TestApp;
  let browser: Browser;
  beforeAll(async () => {
    app = await startTestApp({ overrides: {
      server: { read_your_writes_timeout_ms: 15_000, console_lag_sample_ms: 200 },
      auth: { administrators: [{ provider: 'tmi', subject: 'root' }] },
    } });
    browser = await launchChromium();
  }, 600_000);
  afterAll(async () => {
    await browser?.close();
    await app?.stop();
  });

  async function signedIn(hint: string): Promise<Page> {
    const page = await browser.newPage();
    await page.goto(`${app.url}/console/`);
    await page.fill('#login-hint', hint);
    await page.click('#providers button[data-idp="tmi"]');
    await page.waitForURL(`${app.url}/console/`);
    return page;
  }

  it('refuses a signed-in user who is not an administrator', async () => {
    const page = await signedIn('alice');
    await expect.poll(() => page.textContent('#message')).toContain('is not an administrator');
    expect(await page.isVisible('#tabs')).toBe(false);
    await page.close();
  });

  it('shows projections and their lag, live events, sessions, and retries a dead letter', async () => {
    const { services } = app.runtime;
    const owner = signIn(app, 'owner');
    const s = await sessionOn(app, owner, signIn(app, 'writer'));
    const poison = await appendPoisonMetadata(services, '0190a000-0000-7000-8000-0000000000cc');
    await eventually('the poison event is dead-lettered', async () =>
      (await services.database.pool.query("select 1 from dead_letters where status = 'pending'")).rowCount === 1);

    const page = await signedIn('root');
    await page.waitForSelector('#tabs:not([hidden])');
    expect(await page.textContent('#who')).toBe('root@tmi.local');
    const metadataRow = page.locator('#projections-rows tr[data-projection="metadata"]');
    await expect.poll(() => metadataRow.textContent()).toContain('halted');
    expect(await page.locator('#projections-rows tr').count()).toBeGreaterThanOrEqual(5);
    // Readings every 200 ms: the chart has a line per projection once a few are in.
    await expect.poll(() => page.locator('#lag-chart polyline[data-projection="metadata"]').count()).toBe(1);
    expect(await page.locator('#lag-legend li').count()).toBe(await page.locator('#lag-chart polyline').count());

    await page.click('#tabs button[data-view="events"]');
    await expect.poll(() => page.locator(`#event-rows tr[data-position="${poison.position}"]`).count()).toBe(1);
    // New events appear as they are committed; a filter narrows the feed.
    const later = await app.request('/threat_models', { method: 'POST', token: owner.token, json: { name: 'Seen live' } });
    const laterPosition = Number(later.headers.get('x-event-position'));
    await expect.poll(() => page.locator(`#event-rows tr[data-position="${laterPosition}"]`).count(), { timeout: 15_000 }).toBe(1);
    await page.fill('#event-filters input[name="type"]', 'MetadataEntriesSet');
    await page.click('#event-filters button[type="submit"]');
    await expect.poll(() => page.locator(`#event-rows tr[data-position="${laterPosition}"]`).count()).toBe(0);
    await expect.poll(() => page.locator(`#event-rows tr[data-position="${poison.position}"]`).count()).toBe(1);

    await page.click('#tabs button[data-view="sessions"]');
    await expect.poll(() => page.textContent('#session-rows')).toContain('Shared');
    expect(await page.textContent('#session-rows')).toContain('owner@tmi.local');
    expect(s.sessionId).toEqual(expect.any(String));

    await page.click('#tabs button[data-view="dead-letters"]');
    const letter = page.locator('#dead-letter-rows tr').first();
    await expect.poll(() => letter.textContent()).toContain('MetadataEntriesSet');
    // The operator fixes the cause (here: lifts the constraint), then retries from the console.
    const { rows } = await services.database.pool.query<{ conname: string }>(
      "select conname from pg_constraint where conrelid = 'metadata'::regclass and contype = 'c' and pg_get_constraintdef(oid) like '%key ~%'");
    await services.database.pool.query(`alter table metadata drop constraint ${rows[0]!.conname}`);
    await letter.locator('button[data-action="retry"]').click();
    await expect.poll(() => page.textContent('#message')).toContain('applied');
    await expect.poll(() => page.locator('#dead-letter-rows tr').count()).toBe(0);
    const { rows: letters } = await services.database.pool.query<{ status: string }>('select status from dead_letters');
    expect(letters).toEqual([{ status: 'resolved' }]);
    await page.click('#tabs button[data-view="projections"]');
    await expect.poll(() => metadataRow.textContent(), { timeout: 15_000 }).toContain('running');

    // The event store's tamper check, as its administrators' endpoint reports it.
    await page.click('#tabs button[data-view="verify"]');
    await page.click('#verify-now');
    await expect.poll(() => page.textContent('#verify-result'), { timeout: 30_000 }).toContain('"ok": true');
    expect(JSON.parse((await page.textContent('#verify-result'))!)).toMatchObject({ ok: true, first_broken: null });
    await page.close();
  });

  it('serves the lag history and the sessions to administrators only', async () => {
    for (const path of ['/admin/projections/lag_history', '/admin/collaboration_sessions', '/admin/events/head']) {
      expect((await app.request(path)).status).toBe(401);
      const refused = await app.request(path, { token: signIn(app, 'alice').token });
      expect(refused.status).toBe(403);
      expect(await json(refused)).toMatchObject({ error: expect.any(String), error_description: expect.any(String) });
    }
    expect((await app.request('/console/nothing-here')).status).toBe(404);
    const page = await app.request('/console/');
    expect(page.headers.get('content-type')).toContain('text/html');
    expect(page.headers.get('content-security-policy')).toContain("script-src 'self'");
  });
});
