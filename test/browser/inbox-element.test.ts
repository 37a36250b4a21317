import { mkdirSync } from 'node:fs';
import path from 'node:path';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  chromiumAvailable,
  launchChromium,
  startDropProxy,
  startPageServer,
  startPathProxy,
} from '../helpers/browser.ts';
import { startTestServer, type TestServer } from '../helpers/server.ts';
import { waitFor } from '../helpers/wait.ts';

// biome-ignore lint/suspicious/noExplicitAny: events are read field by field and checked by assertions
type Json = any;

/** Screenshots of the element (light, dark, right-to-left), kept for a person to look at. */
const ARTIFACTS = path.resolve('artifacts/browser');

let browser: Browser;
let server: TestServer;
let proxy: Awaited<ReturnType<typeof startDropProxy>>;
let behind: Awaited<ReturnType<typeof startPathProxy>>;
let app: Awaited<ReturnType<typeof startPageServer>>;
let stranger: Awaited<ReturnType<typeof startPageServer>>;

/**
 * The customer's page on another origin: it loads /inbox.js from Tidings (through the proxy) and
 * adds the element with the token in the page's fragment; `?dir=rtl` and `?lang=` set the page's.
 */
function embedPage(): string {
  return `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>App</title></head>
<body style="padding:1rem 1rem 30rem;display:flex;justify-content:flex-end">
<script type="module">
  const params = new URLSearchParams(location.search);
  document.documentElement.dir = params.get('dir') || 'ltr';
  // ?start: the bell at the start of the line (the left in a left-to-right page), not the end.
  if (params.has('start')) document.body.style.justifyContent = 'flex-start';
  if (params.get('lang')) document.documentElement.lang = params.get('lang');
  // ?nows: a browser (or a proxy) where WebSockets do not get through.
  if (params.has('nows')) window.WebSocket = undefined;
  // ?prefixed: Tidings behind a proxy that serves it under a path, and no api attribute.
  const prefixed = params.has('prefixed');
  try {
    await import(prefixed ? ${JSON.stringify(`${behind.url}/inbox.js`)} : ${JSON.stringify(`${proxy.url}/inbox.js`)});
  } catch (error) {
    window.importError = String(error);
  }
  const inbox = document.createElement('tidings-inbox');
  if (!prefixed) inbox.setAttribute('api', ${JSON.stringify(proxy.url)});
  inbox.setAttribute('token', location.hash.slice(1));
  if (params.get('quiet')) inbox.setAttribute('quiet-check', params.get('quiet'));
  window.events = [];
  // The page's answer to an expired token: fetch a new one (here: from the test) and set it.
  inbox.addEventListener('tidings:token-expired', async () => {
    inbox.setAttribute('token', await window.newToken());
  });
  for (const type of ['tidings:ready', 'tidings:item', 'tidings:unread', 'tidings:status', 'tidings:token-expired'])
    inbox.addEventListener(type, (event) => window.events.push({ type, detail: event.detail, at: Date.now() }));
  document.body.append(inbox);
</script></body></html>`;
}

beforeAll(async () => {
  if (!chromiumAvailable) return;
  app = await startPageServer(embedPage);
  stranger = await startPageServer(embedPage);
  // Only the app's origin may use the browser routes (the stranger's page is another port).
  server = await startTestServer({ TIDINGS_CORS_ORIGINS: app.url });
  proxy = await startDropProxy(server.url);
  behind = await startPathProxy(server.url, '/behind');
  const put = await server.call('PUT', '/v1/workflows/note', {
    channels: [
      {
        channel: 'in_app',
        template: { title: '{{ data.title }}', body: '{{ data.body }}', actionUrl: '{{ data.url }}' },
      },
    ],
  });
  expect(put.status).toBe(200);
  browser = await launchChromium();
  mkdirSync(ARTIFACTS, { recursive: true });
}, 60_000);

afterAll(async () => {
  await browser?.close();
  await proxy?.close();
  await behind?.close();
  await app?.close();
  await stranger?.close();
  await server?.close();
});

async function tokenFor(subscriberId: string): Promise<string> {
  const minted = await server.call('POST', `/v1/subscribers/${subscriberId}/token`);
  expect(minted.status).toBe(200);
  return minted.body.token;
}

async function notify(subscriberId: string, data: Record<string, string>): Promise<void> {
  const sent = await server.call('POST', '/v1/events', { workflow: 'note', to: [subscriberId], data });
  expect(sent.status).toBe(202);
}

async function open(context: BrowserContext, subscriberId: string, query = ''): Promise<Page> {
  const page = await context.newPage();
  await page.goto(`${app.url}/${query}#${await tokenFor(subscriberId)}`);
  await page.waitForFunction(() =>
    (window as unknown as { events: { type: string }[] }).events?.some((e) => e.type === 'tidings:ready'),
  );
  return page;
}

const bellLabel = (page: Page) => page.locator('tidings-inbox .bell').getAttribute('aria-label');
const titles = (page: Page) => page.locator('tidings-inbox .item .title').allTextContents();

async function waitForLabel(page: Page, label: string): Promise<void> {
  await waitFor(
    async () => (await bellLabel(page)) === label,
    `bell label "${label}" (is "${await bellLabel(page)}")`,
  );
}

describe.skipIf(!chromiumAvailable)('<tidings-inbox> in Chromium', () => {
  it('shows the unread badge, a new item live in two tabs, and a read in one clears the other', async () => {
    await notify('ada', { title: 'Welcome', body: 'Hello Ada' });
    await notify('ada', { title: 'Second', body: 'Again' });
    await waitFor(
      async () =>
        (await server.call('GET', '/v1/inbox/unread-count', undefined, { auth: await tokenFor('ada') })).body
          .count === 2,
      'two inbox items',
    );
    const one = await browser.newContext();
    const two = await browser.newContext();
    const first = await open(one, 'ada');
    const second = await open(two, 'ada');
    await waitForLabel(first, 'Notifications, 2 unread');
    expect(await first.locator('tidings-inbox .badge').textContent()).toBe('2');
    await waitForLabel(second, 'Notifications, 2 unread');

    // Live: a trigger shows in both with no reload (timed in the pages: the moment each element
    // got the item, against the moment before the trigger was sent). The issue's 1 s holds on an
    // idle machine; CI runs other test files on the same two cores, so the bound here is 5 s.
    const sentAt = Date.now();
    await notify('ada', { title: 'Live one', body: 'Just now' });
    await waitForLabel(first, 'Notifications, 3 unread');
    await waitForLabel(second, 'Notifications, 3 unread');
    for (const page of [first, second]) {
      const arrived = await page.evaluate(
        () =>
          (window as unknown as { events: { type: string; at: number; detail: Json }[] }).events.find(
            (e) => e.type === 'tidings:item' && e.detail.item.title === 'Live one',
          )?.at,
      );
      expect(arrived! - sentAt).toBeLessThan(5000);
    }
    await first.locator('tidings-inbox .bell').click();
    await waitFor(async () => (await titles(first))[0] === 'Live one', 'the live item first in the list');
    expect(await titles(first)).toEqual(['Live one', 'Second', 'Welcome']);
    expect(await first.locator('tidings-inbox time').first().textContent()).toMatch(/now|second/);

    // Read it in the first tab: the second tab's badge drops.
    await first
      .locator('tidings-inbox .item', { hasText: 'Live one' })
      .locator('[data-control="toggle-read"]')
      .click();
    await waitForLabel(second, 'Notifications, 2 unread');
    await waitForLabel(first, 'Notifications, 2 unread');

    // Read all in the second: both empty their badges; archive drops the item from the other tab's list.
    await second.locator('tidings-inbox .bell').click();
    await second.locator('tidings-inbox .link').click();
    await waitForLabel(first, 'Notifications, none unread');
    expect(await first.locator('tidings-inbox .badge').isHidden()).toBe(true);
    await second
      .locator('tidings-inbox .item', { hasText: 'Second' })
      .locator('[data-control="archive"]')
      .click();
    await waitFor(
      async () => !(await titles(first)).includes('Second'),
      'the archived item gone from the other tab',
    );
    await one.close();
    await two.close();
  });

  it('snoozes an item: it leaves both tabs until its time (keyboard Escape closes the choices first)', async () => {
    await notify('zed', { title: 'Later please', body: 'b' });
    await notify('zed', { title: 'Keep', body: 'b' });
    const one = await browser.newContext();
    const two = await browser.newContext();
    const first = await open(one, 'zed');
    const second = await open(two, 'zed');
    await waitForLabel(second, 'Notifications, 2 unread');
    await first.locator('tidings-inbox .bell').click();
    await waitFor(async () => (await titles(first)).length === 2, 'two items');
    const item = first.locator('tidings-inbox .item', { hasText: 'Later please' });
    await item.locator('[data-control="snooze"]').click();
    expect(await item.locator('[data-control="snooze"]').getAttribute('aria-expanded')).toBe('true');
    await first.keyboard.press('Escape');
    expect(await item.locator('.snooze-choices').isHidden()).toBe(true);
    expect(await first.locator('tidings-inbox [role="dialog"]').isVisible()).toBe(true);
    await item.locator('[data-control="snooze"]').click();
    await item.locator('[data-control="snoozeTomorrow"]').click();
    await waitFor(async () => (await titles(first)).join() === 'Keep', 'the snoozed item gone');
    await second.locator('tidings-inbox .bell').click();
    await waitFor(async () => (await titles(second)).join() === 'Keep', 'gone from the other tab too');
    const stored = await server.call('GET', '/v1/inbox?status=all', undefined, {
      auth: await tokenFor('zed'),
    });
    expect(stored.body.items.map((i: Json) => i.title)).toEqual(['Keep']);
    await one.close();
    await two.close();
  });

  it('shows server text as text and follows only http(s) URLs', async () => {
    await notify('eve', {
      title: '<img src=x onerror="window.pwned=1">',
      body: '<script>window.pwned=2</script>',
      url: 'javascript:window.pwned=3',
    });
    await notify('eve', { title: 'Safe', body: 'b', url: 'https://app.example.test/x' });
    const context = await browser.newContext();
    const page = await open(context, 'eve');
    await page.locator('tidings-inbox .bell').click();
    await waitFor(async () => (await titles(page)).length === 2, 'both items listed');
    expect(await titles(page)).toContain('<img src=x onerror="window.pwned=1">');
    expect(await page.locator('tidings-inbox img').count()).toBe(0);
    const hostile = page.locator('tidings-inbox .item', { hasText: 'onerror' });
    expect(await hostile.locator('[data-control="open"]').count()).toBe(0);
    expect(
      await page.locator('tidings-inbox .item', { hasText: 'Safe' }).locator('[data-control="open"]').count(),
    ).toBe(1);
    expect(await page.evaluate(() => (window as unknown as { pwned?: number }).pwned)).toBeUndefined();
    await context.close();
  });

  it('is usable with the keyboard: open, move through items, Escape closes and returns focus', async () => {
    await notify('kim', { title: 'K1', body: 'one' });
    await notify('kim', { title: 'K2', body: 'two' });
    const context = await browser.newContext();
    const page = await open(context, 'kim');
    await waitForLabel(page, 'Notifications, 2 unread');
    await page.keyboard.press('Tab');
    const focused = () =>
      page.evaluate(() => {
        const root = document.querySelector('tidings-inbox')!.shadowRoot!;
        const active = root.activeElement as HTMLElement | null;
        return active
          ? `${active.tagName.toLowerCase()}.${active.className}|${active.dataset.id ?? ''}`
          : null;
      });
    expect(await focused()).toMatch(/^button\.bell/);
    await page.keyboard.press('Enter');
    expect(await page.locator('tidings-inbox .bell').getAttribute('aria-expanded')).toBe('true');
    expect(await page.locator('tidings-inbox [role="dialog"]').isVisible()).toBe(true);
    expect(await focused()).toMatch(/^h2/);
    await waitFor(async () => (await titles(page)).length === 2, 'two items');
    await page.keyboard.press('ArrowDown');
    const firstId = await page.locator('tidings-inbox .item').first().getAttribute('data-id');
    expect(await focused()).toBe(`li.item unread|${firstId}`);
    await page.keyboard.press('ArrowDown');
    const secondId = await page.locator('tidings-inbox .item').nth(1).getAttribute('data-id');
    expect(await focused()).toBe(`li.item unread|${secondId}`);
    // Tab reaches the item's buttons; Enter on "Mark as read" reads it and keeps focus on the control.
    await page.keyboard.press('Tab');
    expect(await focused()).toMatch(/^button\./);
    await page.keyboard.press('Enter');
    await waitForLabel(page, 'Notifications, 1 unread');
    await page.keyboard.press('Escape');
    expect(await page.locator('tidings-inbox [role="dialog"]').isHidden()).toBe(true);
    expect(await page.locator('tidings-inbox .bell').getAttribute('aria-expanded')).toBe('false');
    expect(await focused()).toMatch(/^button\.bell/);
    await context.close();
  });

  it('reconnects after the connection drops and resumes with no gap and no duplicate', async () => {
    await notify('rio', { title: 'before', body: 'b' });
    const context = await browser.newContext();
    const page = await open(context, 'rio');
    await waitForLabel(page, 'Notifications, 1 unread');
    await page.locator('tidings-inbox .bell').click();
    await notify('rio', { title: 'live 1', body: 'b' });
    await waitFor(async () => (await titles(page)).includes('live 1'), 'live 1');

    proxy.cut();
    await waitFor(
      () =>
        page.evaluate(() =>
          (window as unknown as { events: { type: string; detail: { status: string } }[] }).events.some(
            (e) => e.type === 'tidings:status' && e.detail.status === 'connecting',
          ),
        ),
      'the element noticing the drop',
    );
    for (const n of [1, 2, 3]) await notify('rio', { title: `missed ${n}`, body: 'b' });
    await waitFor(
      async () =>
        (await server.call('GET', '/v1/inbox/unread-count', undefined, { auth: await tokenFor('rio') })).body
          .count === 5,
      'five items stored',
    );
    proxy.restore();
    await waitForLabel(page, 'Notifications, 5 unread');
    await notify('rio', { title: 'after', body: 'b' });
    await waitForLabel(page, 'Notifications, 6 unread');
    await waitFor(async () => (await titles(page)).length === 6, 'six items listed');
    expect([...(await titles(page))].sort()).toEqual([
      'after',
      'before',
      'live 1',
      'missed 1',
      'missed 2',
      'missed 3',
    ]);
    await context.close();
  });

  it('notices a connection that died without closing, and resumes', async () => {
    const context = await browser.newContext();
    const page = await open(context, 'hal', '?quiet=1');
    await notify('hal', { title: 'before', body: 'b' });
    await waitForLabel(page, 'Notifications, 1 unread');
    proxy.freeze();
    await notify('hal', { title: 'while frozen', body: 'b' });
    await waitForLabel(page, 'Notifications, 2 unread');
    await page.locator('tidings-inbox .bell').click();
    await waitFor(async () => (await titles(page)).length === 2, 'both items');
    expect(await titles(page)).toEqual(['while frozen', 'before']);
    await context.close();
  });

  it('falls back to Server-Sent Events where WebSockets do not get through, resuming the same way', async () => {
    await notify('sse', { title: 'first', body: 'b' });
    const context = await browser.newContext();
    const page = await open(context, 'sse', '?nows');
    await waitForLabel(page, 'Notifications, 1 unread');
    await notify('sse', { title: 'live over SSE', body: 'b' });
    await waitForLabel(page, 'Notifications, 2 unread');
    proxy.cut();
    await notify('sse', { title: 'missed over SSE', body: 'b' });
    proxy.restore();
    await waitForLabel(page, 'Notifications, 3 unread');
    await page.locator('tidings-inbox .bell').click();
    await waitFor(async () => (await titles(page)).length === 3, 'three items');
    expect(await titles(page)).toEqual(['missed over SSE', 'live over SSE', 'first']);
    await context.close();
  });

  it('asks the page for a new token when its token expires, and carries on with it', async () => {
    const context = await browser.newContext();
    await context.exposeFunction('newToken', () => tokenFor('tia'));
    const page = await context.newPage();
    const short = (await server.call('POST', '/v1/subscribers/tia/token', { expiresIn: '2s' })).body.token;
    await page.goto(`${app.url}/#${short}`);
    await waitForLabel(page, 'Notifications, none unread');
    await waitFor(
      () =>
        page.evaluate(() =>
          (window as unknown as { events: { type: string }[] }).events.some(
            (e) => e.type === 'tidings:token-expired',
          ),
        ),
      'the element to report the expired token',
    );
    await notify('tia', { title: 'after renewal', body: 'b' });
    await waitForLabel(page, 'Notifications, 1 unread');
    await context.close();
  });

  it('starts once the page sets a token on an element it placed without one', async () => {
    await notify('len', { title: 'waiting', body: 'b' });
    const context = await browser.newContext();
    const page = await context.newPage();
    await page.goto(`${app.url}/`); // no token in the fragment: the element has an empty one
    await page.waitForFunction(() => document.querySelector('tidings-inbox'));
    const token = await tokenFor('len');
    await page.evaluate((t) => document.querySelector('tidings-inbox')!.setAttribute('token', t), token);
    await waitForLabel(page, 'Notifications, 1 unread');
    await context.close();
  });

  it('talks to Tidings under the path inbox.js came from when no api is set', async () => {
    await notify('pat', { title: 'under a path', body: 'b' });
    const context = await browser.newContext();
    const page = await open(context, 'pat', '?prefixed');
    await waitForLabel(page, 'Notifications, 1 unread');
    await context.close();
  });

  it("shows only the new subscriber's inbox when the page switches to another subscriber's token", async () => {
    await notify('uma', { title: "Uma's", body: 'b' });
    await notify('vic', { title: "Vic's", body: 'b' });
    const context = await browser.newContext();
    const page = await open(context, 'uma');
    await notify('uma', { title: "Uma's live", body: 'b' }); // the stream now has a position in Uma's log
    await page.waitForFunction(() =>
      (window as unknown as { events: { type: string }[] }).events.some((e) => e.type === 'tidings:item'),
    );
    await page.locator('tidings-inbox .bell').click();
    await waitFor(async () => (await titles(page)).length === 2, "Uma's two items");
    const token = await tokenFor('vic');
    await page.evaluate((t) => document.querySelector('tidings-inbox')!.setAttribute('token', t), token);
    await waitFor(
      async () => (await titles(page)).join() === "Vic's",
      `only Vic's item (${await titles(page)})`,
    );
    await waitForLabel(page, 'Notifications, 1 unread');
    // Signed out: no token, nothing shown.
    await page.evaluate(() => document.querySelector('tidings-inbox')!.removeAttribute('token'));
    await waitForLabel(page, 'Notifications, none unread');
    expect(await titles(page)).toEqual([]);
    await context.close();
  });

  it('keeps the panel in the window when the bell is at the start of the line, either direction', async () => {
    await notify('ned', { title: 'in view', body: 'b' });
    const context = await browser.newContext({ viewport: { width: 600, height: 600 } });
    for (const query of ['?start', '?start&dir=rtl']) {
      const page = await open(context, 'ned', query);
      await page.locator('tidings-inbox .bell').click();
      const panel = (await page.locator('tidings-inbox .panel').boundingBox())!;
      expect(panel.x, query).toBeGreaterThanOrEqual(0);
      expect(panel.x + panel.width, query).toBeLessThanOrEqual(600);
      await page.close();
    }
    await context.close();
  });

  it('lists items on a page whose lang is no valid language tag (en_US)', async () => {
    await notify('ivy', { title: 'still listed', body: 'b' });
    const context = await browser.newContext();
    const page = await open(context, 'ivy', '?lang=en_US');
    await page.locator('tidings-inbox .bell').click();
    await waitFor(async () => (await titles(page)).join() === 'still listed', 'the item listed');
    expect(await page.locator('tidings-inbox time').first().textContent()).toMatch(/now|second/);
    await context.close();
  });

  it('stays closed over Server-Sent Events when a newer stream of the subscriber replaces it', async () => {
    const context = await browser.newContext();
    const page = await open(context, 'ray', '?nows');
    // Twenty more streams of the subscriber (the cap): the last replaces the element's, the oldest.
    const token = await tokenFor('ray');
    const others = new AbortController();
    for (let i = 0; i < 20; i++)
      await fetch(`${server.url}/v1/inbox/stream?token=${token}`, { signal: others.signal });
    // It says so and stays closed (reconnecting, it would replace one of the others in turn).
    await page.waitForFunction(() =>
      (window as unknown as { events: { type: string; detail: Json }[] }).events.some(
        (e) => e.type === 'tidings:status' && e.detail.status === 'closed',
      ),
    );
    others.abort();
    await context.close();
  });

  it('loads older pages as the list scrolls (cursor pages) and shows an empty state', async () => {
    const items = Array.from({ length: 45 }, (_, n) => ({
      workflow: 'note',
      to: ['sam'],
      data: { title: `old ${String(n).padStart(2, '0')}`, body: 'b' },
    }));
    const bulk = await server.call('POST', '/v1/events/bulk', { events: items });
    expect(bulk.status).toBeLessThan(300);
    await waitFor(
      async () =>
        (await server.call('GET', '/v1/inbox/unread-count', undefined, { auth: await tokenFor('sam') })).body
          .count === 45,
      '45 items',
    );
    const context = await browser.newContext();
    const page = await open(context, 'sam');
    await page.locator('tidings-inbox .bell').click();
    await waitFor(async () => (await titles(page)).length >= 20, 'the first page');
    for (let i = 0; i < 10 && (await titles(page)).length < 45; i++) {
      await page.locator('tidings-inbox .item').last().scrollIntoViewIfNeeded();
      await waitFor(
        async () => (await titles(page)).length > 20 * (i + 1) || (await titles(page)).length === 45,
        'another page',
        10_000,
      );
    }
    const listed = await titles(page);
    expect(listed.length).toBe(45);
    expect(new Set(listed).size).toBe(45);
    await context.close();

    const empty = await browser.newContext();
    const nobody = await open(empty, 'nobody-yet');
    await nobody.locator('tidings-inbox .bell').click();
    await waitFor(() => nobody.locator('tidings-inbox .empty').isVisible(), 'the empty state');
    expect(await nobody.locator('tidings-inbox .empty').textContent()).toBe('You have no notifications');
    await empty.close();
  });

  it('refuses a page on an origin TIDINGS_CORS_ORIGINS does not list', async () => {
    const context = await browser.newContext();
    const page = await context.newPage();
    await page.goto(`${stranger.url}/#${await tokenFor('ada')}`);
    await waitFor(
      () => page.evaluate(() => (window as unknown as { importError?: string }).importError),
      'the import to fail',
    );
    expect(await page.evaluate(() => customElements.get('tidings-inbox'))).toBeUndefined();
    const read = await page.evaluate(async (api) => {
      try {
        await fetch(`${api}/v1/inbox/unread-count`, { headers: { authorization: 'Bearer x' } });
        return 'read';
      } catch {
        return 'blocked';
      }
    }, proxy.url);
    expect(read).toBe('blocked');
    // Nor a WebSocket (to which browsers apply no CORS): the server refuses the upgrade.
    const socket = await page.evaluate(
      (url) =>
        new Promise<string>((resolve) => {
          const ws = new WebSocket(url);
          ws.onopen = () => resolve('open');
          ws.onclose = () => resolve('refused');
        }),
      `${proxy.url.replace('http', 'ws')}/v1/inbox/ws`,
    );
    expect(socket).toBe('refused');
    await context.close();
  });

  it('follows the light and dark schemes and right-to-left pages (screenshots kept)', async () => {
    await notify('lee', { title: 'Deploy finished', body: 'api v2.3 is live in eu-west-1' });
    await notify('lee', { title: 'Nouveau commentaire', body: 'Sur votre billet' });
    for (const [name, scheme, query] of [
      ['light', 'light', ''],
      ['dark', 'dark', ''],
      ['rtl', 'light', '?dir=rtl&lang=ar'],
    ] as const) {
      const context = await browser.newContext({
        colorScheme: scheme,
        viewport: { width: 520, height: 560 },
      });
      const page = await open(context, 'lee', query);
      await page.locator('tidings-inbox .bell').click();
      await waitFor(async () => (await titles(page)).length === 2, 'two items');
      const panel = page.locator('tidings-inbox .panel');
      const background = await panel.evaluate((node) => getComputedStyle(node).backgroundColor);
      expect(background).toBe(scheme === 'dark' ? 'rgb(17, 24, 39)' : 'rgb(255, 255, 255)');
      if (name === 'rtl') {
        // The badge sits at the inline end: the left in a right-to-left page.
        const bell = await page.locator('tidings-inbox .bell').boundingBox();
        const badge = await page.locator('tidings-inbox .badge').boundingBox();
        expect(badge!.x).toBeLessThan(bell!.x + bell!.width / 2);
        expect(await page.locator('tidings-inbox time').first().textContent()).not.toMatch(/[a-z]/i);
      }
      await page.screenshot({ path: path.join(ARTIFACTS, `inbox-${name}.png`) });
      await context.close();
    }
  });

  // Last: tabs are tenant settings, and every other test's page would show them.
  it("shows the tenant's tabs with unread counts; a tab lists its categories only, live", async () => {
    const put = await server.call('PUT', '/v1/workflows/liked', {
      category: 'social',
      channels: [{ channel: 'in_app', template: { title: '{{ data.title }}', body: 'b' } }],
    });
    expect(put.status).toBe(200);
    expect((await server.call('PATCH', '/v1/settings', { inboxTabs: { social: ['social'] } })).status).toBe(
      200,
    );
    await notify('tab', { title: 'plain', body: 'b' });
    const liked = await server.call('POST', '/v1/events', {
      workflow: 'liked',
      to: ['tab'],
      data: { title: 'liked 1' },
    });
    expect(liked.status).toBe(202);
    const context = await browser.newContext();
    const page = await open(context, 'tab');
    await waitForLabel(page, 'Notifications, 2 unread');
    await page.locator('tidings-inbox .bell').click();
    const tabs = page.locator('tidings-inbox [role="tab"]');
    await waitFor(
      async () => (await tabs.allTextContents()).join('|') === 'All2|social1',
      'the tabs with counts',
    );
    await waitFor(async () => (await titles(page)).length === 2, 'both items under All');

    // Keyboard: ArrowRight from "All" selects the social tab.
    await tabs.first().focus();
    await page.keyboard.press('ArrowRight');
    expect(await tabs.nth(1).getAttribute('aria-selected')).toBe('true');
    await waitFor(async () => (await titles(page)).join() === 'liked 1', 'only the social item');

    await notify('tab', { title: 'plain 2', body: 'b' });
    await server.call('POST', '/v1/events', { workflow: 'liked', to: ['tab'], data: { title: 'liked 2' } });
    await waitFor(
      async () => (await tabs.allTextContents()).join('|') === 'All4|social2',
      'the counts, live',
    );
    await waitFor(
      async () => (await titles(page)).join() === 'liked 2,liked 1',
      'the new social item, and only it',
    );
    await tabs.first().click();
    await waitFor(async () => (await titles(page)).length === 4, 'all four under All');
    await context.close();
  });
});
