import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { signPreferenceLinkToken } from '../../src/security/preference-link-token.ts';
import { alteredEnd } from '../helpers/altered.ts';
import { startTestServer, type TestServer } from '../helpers/server.ts';
import { waitFor } from '../helpers/wait.ts';

// biome-ignore lint/suspicious/noExplicitAny: test payloads are read field by field and checked by assertions
type Json = any;

let server: TestServer;

beforeAll(async () => {
  server = await startTestServer();
  for (const [key, category, name] of [
    ['news', 'marketing', 'Weekly news'],
    ['reset', 'security', 'Password reset'],
    ['tips', undefined, '<img src=x onerror=alert(1)>'],
  ] as const) {
    const put = await server.call('PUT', `/v1/workflows/${key}`, {
      ...(category ? { category } : {}),
      name,
      channels: [
        {
          channel: 'email',
          template: {
            subject: key,
            text: 'Manage: {{ links.preferences }}\nLeave: {{ links.unsubscribe }}',
          },
        },
        { channel: 'in_app', template: { title: key, body: 'b' } },
      ],
    });
    expect(put.status).toBe(200);
  }
});

afterAll(async () => {
  await server?.close();
});

async function emailOf(subscriberId: string, workflow: string): Promise<Json> {
  const sent = await server.call('POST', '/v1/events', {
    workflow,
    to: [{ subscriberId, email: `${subscriberId}@example.test` }],
  });
  expect(sent.status).toBe(202);
  const eventId = sent.body.eventId ?? sent.body.id;
  return waitFor(async () => {
    const view = await server.call('GET', `/v1/events/${eventId}`);
    const email = view.body.messages?.find((m: Json) => m.channel === 'email');
    return email && email.status !== 'queued' && email.status !== 'sending' ? email : null;
  }, `the ${workflow} email of ${subscriberId}`);
}

/** The preference link the last sandbox email to `subscriberId` carried. */
async function linkFor(subscriberId: string): Promise<string> {
  await emailOf(subscriberId, 'news');
  const captures = (await server.call('GET', '/v1/sandbox/messages?channel=email&limit=500')).body.items;
  const text: string = captures.find((c: Json) => c.to === `${subscriberId}@example.test`).content.text;
  const link = /Manage: (\S+)/.exec(text)![1]!;
  expect(text).toMatch(/Leave: \S+\/v1\/unsubscribe\//);
  return link.replace(/^https?:\/\/[^/]+/, server.url);
}

/** The form as a browser would post it from the page: every checked box, the token, the times. */
function formOf(html: string, changes: Record<string, boolean> = {}): URLSearchParams {
  const form = new URLSearchParams();
  for (const [, attributes] of html.matchAll(/<input ([^>]*)>/g)) {
    const name = /name="([^"]*)"/
      .exec(attributes!)?.[1]
      ?.replace(/&#(\d+);/g, (_, c) => String.fromCharCode(Number(c)));
    if (!name || attributes!.includes(' disabled')) continue;
    const value = /value="([^"]*)"/.exec(attributes!)?.[1] ?? '';
    if (attributes!.includes('type="checkbox"')) {
      const on = changes[name] ?? attributes!.includes(' checked');
      if (on) form.append(name, 'on');
    } else form.append(name, value);
  }
  return form;
}

async function post(body: URLSearchParams | string, headers: Record<string, string> = {}) {
  return fetch(`${server.url}/v1/preferences-page`, {
    method: 'POST',
    redirect: 'manual',
    headers: { 'content-type': 'application/x-www-form-urlencoded', ...headers },
    body: body.toString(),
  });
}

describe('GET/POST /v1/preferences-page', () => {
  it('opens from {{ links.preferences }} in an email, shows locked mandatory topics, saves what changed', async () => {
    const link = await linkFor('pia');
    const page = await fetch(link);
    expect(page.status).toBe(200);
    expect(page.headers.get('content-type')).toBe('text/html; charset=utf-8');
    const csp = page.headers.get('content-security-policy')!;
    expect(csp).toMatch(/default-src 'none'/);
    expect(csp).toMatch(/style-src 'sha256-/);
    expect(csp).not.toMatch(/unsafe-inline/);
    expect(csp).toMatch(/frame-ancestors 'none'/);
    expect(page.headers.get('cache-control')).toBe('no-store');
    expect(page.headers.get('referrer-policy')).toBe('no-referrer');
    const html = await page.text();
    expect(html).not.toMatch(/<script/i);
    expect(html).toContain('name="category:marketing:email" value="on" checked');
    expect(html).toMatch(
      /name="category:security:email" value="on" checked aria-label="[^"]*always on[^"]*" disabled/,
    );
    expect(html).toContain('&#60;img src=x onerror=alert(1)&#62;');
    expect(html).not.toContain('<img');

    // Marketing email off; the locked security box is posted "off" too (a crafted form): ignored.
    const form = formOf(html, { 'category:marketing:email': false });
    form.delete('category:security:email');
    const saved = await post(form, { origin: server.url });
    expect(saved.status).toBe(303);
    expect(saved.headers.get('location')).toMatch(/^preferences-page\?token=.+&saved=1$/);
    const prefs = await server.call('GET', '/v1/subscribers/pia/preferences');
    expect(prefs.body.categories).toEqual({ marketing: { email: false } });
    // Nothing else became an explicit choice: untouched boxes left the defaults alone.
    expect(prefs.body.channels).toEqual({});
    expect(prefs.body.workflows).toEqual({});
    // The consent log names the page as the source.
    const log = (await server.call('GET', '/v1/subscribers/pia/consent-log')).body.items;
    expect(log.map((e: { source: string; change: unknown }) => [e.source, e.change])).toEqual([
      ['preference_page', { preferences: { categories: { marketing: { email: false } } } }],
    ]);

    const after = await fetch(new URL(saved.headers.get('location')!, `${server.url}/v1/`));
    const afterHtml = await after.text();
    expect(afterHtml).toContain('role="status"');
    expect(afterHtml).toContain('name="category:marketing:email" value="on" aria-label');

    // The change holds for the next send, as a PATCH does; the mandatory category still sends.
    const suppressed = await emailOf('pia', 'news');
    expect(suppressed.status).toBe('suppressed');
    expect(suppressed.reason).toBe('opted_out');
    expect((await emailOf('pia', 'reset')).status).toBe('sent');
  });

  it('takes a subscriber token too, and quiet hours and workflows', async () => {
    const token = (await server.call('POST', '/v1/subscribers/quinn/token')).body.token;
    const html = await (await fetch(`${server.url}/v1/preferences-page?token=${token}`)).text();
    const form = formOf(html, { quiet: true, 'workflow:tips': false });
    form.set('quiet-start', '21:30');
    form.set('quiet-end', '06:45');
    expect((await post(form)).status).toBe(303);
    const prefs = (await server.call('GET', '/v1/subscribers/quinn/preferences')).body;
    expect(prefs.quietHours).toEqual({ start: '21:30', end: '06:45' });
    expect(prefs.workflows).toEqual({ tips: { enabled: false } });

    const empty = formOf(html, { quiet: true });
    empty.set('quiet-start', '22:00');
    empty.set('quiet-end', '22:00');
    const refused = await post(empty);
    expect(refused.status).toBe(400);
    expect(await refused.text()).toMatch(/Quiet hours must end at another time.*Nothing was changed/);
    expect((await server.call('GET', '/v1/subscribers/quinn/preferences')).body.quietHours).toEqual({
      start: '21:30',
      end: '06:45',
    });
  });

  it('shows a workflow saved or deleted a moment after the page was opened, when opened again', async () => {
    const token = (await server.call('POST', '/v1/subscribers/quinn/token')).body.token;
    const open = async () => (await fetch(`${server.url}/v1/preferences-page?token=${token}`)).text();
    expect(await open()).not.toContain('workflow:pp-late');
    const put = await server.call('PUT', '/v1/workflows/pp-late', {
      name: 'Late arrival',
      category: 'pp-late-news',
      channels: [{ channel: 'in_app', template: { title: 'x' } }],
    });
    expect(put.status).toBe(200);
    const shown = await open();
    expect(shown).toContain('workflow:pp-late');
    expect(shown).toContain('category:pp-late-news:in_app');
    expect((await server.call('DELETE', '/v1/workflows/pp-late')).status).toBe(200);
    expect(await open()).not.toContain('workflow:pp-late');
  });

  it('saves an opt-out of a category or workflow named __proto__ like any other, polluting no prototype', async () => {
    const put = await server.call('PUT', '/v1/workflows/__proto__', {
      category: '__proto__',
      channels: [{ channel: 'email', template: { subject: 'p', text: 'p' } }],
    });
    expect(put.status).toBe(200);
    const token = (await server.call('POST', '/v1/subscribers/proto-page/token')).body.token;
    const html = await (await fetch(`${server.url}/v1/preferences-page?token=${token}`)).text();
    const form = formOf(html, { 'category:__proto__:email': false, 'workflow:__proto__': false });
    // The server runs in this process: a form that wrote into Object.prototype would show here
    // (it set Object.prototype.email, and the next garbage-collection metric crashed the process).
    try {
      expect((await post(form)).status).toBe(303);
      expect(Object.getOwnPropertyNames(Object.prototype)).not.toContain('email');
    } finally {
      delete (Object.prototype as Record<string, unknown>).email;
    }
    const prefs = (await server.call('GET', '/v1/subscribers/proto-page/preferences')).body;
    expect(Object.entries(prefs.categories)).toEqual([['__proto__', { email: false }]]);
    expect(Object.entries(prefs.workflows)).toEqual([['__proto__', { enabled: false }]]);
    const sent = await server.call('POST', '/v1/events', {
      workflow: '__proto__',
      to: [{ subscriberId: 'proto-page', email: 'proto-page@example.test' }],
    });
    expect(sent.status).toBe(202);
    const email = await waitFor(async () => {
      const view = await server.call('GET', `/v1/events/${sent.body.eventId}`);
      const found = view.body.messages?.find((m: Json) => m.channel === 'email');
      return found && found.status !== 'queued' && found.status !== 'sending' ? found : null;
    }, 'the __proto__ email');
    expect(email).toMatchObject({ status: 'suppressed', reason: 'opted_out' });
    await server.call('DELETE', '/v1/workflows/__proto__');
  });

  it('answers a bad, altered or expired token with a 401 page', async () => {
    const link = await linkFor('rex');
    const token = new URL(link).searchParams.get('token')!;
    const expired = signPreferenceLinkToken(server.tidings.keys.preferenceLinkSigning, {
      tenantId: 'default',
      subscriberId: 'rex',
      expiresAt: Date.now() - 1000,
    });
    for (const [bad, text] of [
      ['', /not valid/],
      ['nonsense', /not valid/],
      [alteredEnd(token, 2), /not valid/],
      [`x${token}`, /not valid/],
      ['a.b.c', /not valid/],
      [expired, /expired/],
    ] as const) {
      const answer = await fetch(`${server.url}/v1/preferences-page?token=${encodeURIComponent(bad)}`);
      expect(answer.status, bad).toBe(401);
      expect(answer.headers.get('content-type')).toBe('text/html; charset=utf-8');
      expect(answer.headers.get('content-security-policy')).toMatch(/default-src 'none'/);
      expect(await answer.text()).toMatch(text);
    }
    expect((await fetch(`${server.url}/v1/preferences-page`)).status).toBe(401);
    expect((await fetch(`${server.url}/v1/preferences-page?token=a&token=b`)).status).toBe(401);
    const posted = await post(new URLSearchParams({ token: expired }));
    expect(posted.status).toBe(401);

    // A genuine link for an earlier subscriber of the id (erased, then created anew) opens nothing.
    const earlier = signPreferenceLinkToken(server.tidings.keys.preferenceLinkSigning, {
      tenantId: 'default',
      subscriberId: 'rex',
      expiresAt: Date.now() + 60_000,
      subscriberCreatedAt: 1,
    });
    const other = await fetch(`${server.url}/v1/preferences-page?token=${earlier}`);
    expect(other.status).toBe(404);
    expect((await fetch(link)).status).toBe(200);
  });

  it('refuses cross-site posts and other bodies, changing nothing', async () => {
    const link = await linkFor('sol');
    const html = await (await fetch(link)).text();
    const form = formOf(html, { 'channel:email': false });
    for (const headers of <Record<string, string>[]>[
      { origin: 'https://evil.example' },
      { 'sec-fetch-site': 'cross-site' },
      { origin: 'null', 'sec-fetch-site': 'same-site' },
    ]) {
      const answer = await post(form, headers);
      expect(answer.status).toBe(403);
      expect(await answer.text()).toMatch(/only be changed from the preference page/);
    }
    const json = await fetch(`${server.url}/v1/preferences-page`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ token: new URL(link).searchParams.get('token') }),
    });
    expect(json.status).toBe(400);
    expect((await server.call('GET', '/v1/subscribers/sol/preferences')).body.channels).toEqual({});
    expect((await post(form, { origin: server.url, 'sec-fetch-site': 'same-origin' })).status).toBe(303);
    expect((await server.call('GET', '/v1/subscribers/sol/preferences')).body.channels).toEqual({
      email: false,
    });
  });
});
