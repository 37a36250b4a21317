import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { chromiumAvailable, launchChromium } from '../helpers/browser.ts';
import { startTestServer, type TestServer } from '../helpers/server.ts';
import { waitFor } from '../helpers/wait.ts';

// biome-ignore lint/suspicious/noExplicitAny: test payloads are read field by field and checked by assertions
type Json = any;

let browser: Browser;
let server: TestServer;

beforeAll(async () => {
  if (!chromiumAvailable) return;
  server = await startTestServer();
  for (const [key, category] of [
    ['promo', 'marketing'],
    ['login-code', 'security'],
  ] as const) {
    const put = await server.call('PUT', `/v1/workflows/${key}`, {
      category,
      channels: [{ channel: 'email', template: { subject: key, text: 'Manage: {{ links.preferences }}' } }],
    });
    expect(put.status).toBe(200);
  }
  browser = await launchChromium();
}, 60_000);

afterAll(async () => {
  await browser?.close();
  await server?.close();
});

async function send(workflow: string): Promise<Json> {
  const sent = await server.call('POST', '/v1/events', {
    workflow,
    to: [{ subscriberId: 'uma', email: 'uma@example.test' }],
  });
  expect(sent.status).toBe(202);
  return waitFor(async () => {
    const view = await server.call('GET', `/v1/events/${sent.body.eventId}`);
    const email = view.body.messages?.[0];
    return email && !['queued', 'sending'].includes(email.status) ? email : null;
  }, `the ${workflow} email`);
}

describe.skipIf(!chromiumAvailable)('the preference page in Chromium', () => {
  it('changes a preference from the emailed link, which then suppresses the next send', async () => {
    expect((await send('promo')).status).toBe('sent');
    const capture = (await server.call('GET', '/v1/sandbox/messages?channel=email')).body.items[0];
    // The test server listens on a free port: its links name the configured port 0.
    const link = /Manage: (\S+)/.exec(capture.content.text)![1]!.replace(/^http:\/\/[^/]+/, server.url);

    const context = await browser.newContext();
    const page = await context.newPage();
    const violations: string[] = [];
    page.on('console', (message) => {
      if (/Content Security Policy/i.test(message.text())) violations.push(message.text());
    });
    await page.goto(link);
    expect(await page.title()).toBe('Notification preferences');
    // The stylesheet passes the CSP (by hash): the page is laid out, not raw.
    expect(await page.locator('body').evaluate((body) => getComputedStyle(body).maxWidth)).toBe('640px');
    const marketing = page.getByRole('checkbox', { name: 'marketing: Email' });
    const security = page.getByRole('checkbox', { name: /security: Email/ });
    expect(await marketing.isChecked()).toBe(true);
    expect(await security.isChecked()).toBe(true);
    expect(await security.isDisabled()).toBe(true);

    // By keyboard: focus the box, Space unticks it, Enter on the button submits.
    await marketing.focus();
    await page.keyboard.press('Space');
    expect(await marketing.isChecked()).toBe(false);
    await page.getByRole('button', { name: 'Save preferences' }).focus();
    await Promise.all([page.waitForURL(/saved=1/), page.keyboard.press('Enter')]);
    expect(await page.getByRole('status').textContent()).toBe('Your preferences are saved.');
    expect(await page.getByRole('checkbox', { name: 'marketing: Email' }).isChecked()).toBe(false);
    expect(violations).toEqual([]);
    await context.close();

    const next = await send('promo');
    expect(next.status).toBe('suppressed');
    expect(next.reason).toBe('opted_out');
    expect((await send('login-code')).status).toBe('sent');
  });
});
