import { generateKeyPairSync } from 'node:crypto';
import { dkimVerify } from 'mailauth/lib/dkim/verify.js';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { FakeSmtp } from '../fakes/smtp.ts';
import { startWebhookReceiver, type WebhookReceiver } from '../fakes/webhook-receiver.ts';
import { type ServerWithMail, startServerWithMail } from '../helpers/mail-server.ts';
import type { TestServer } from '../helpers/server.ts';
import { waitFor } from '../helpers/wait.ts';

// A public URL with a path, as behind a reverse proxy: tracking links keep the path.
const PUBLIC_URL = 'https://notify.example.test/tidings';

const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
const dkimRecord = `v=DKIM1; k=rsa; p=${publicKey.export({ type: 'spki', format: 'der' }).toString('base64')}`;

// Liquid renders `&` in data as `&amp;` inside the attribute, as a template author writes it.
const HTML =
  '<html><body><p>Your order {{ data.n }} shipped.</p>' +
  '<a href="https://shop.example/orders/7?x=1&amp;y=2">Track it</a> ' +
  '<a href="mailto:help@acme.example">Help</a> <a href="#top">Top</a> ' +
  '<a href="{{ links.unsubscribe }}">Unsubscribe</a></body></html>';
const ORDER_URL = 'https://shop.example/orders/7?x=1&y=2';

let setup: ServerWithMail;
let server: TestServer;
let smtp: FakeSmtp;
let hook: WebhookReceiver;

beforeAll(async () => {
  [setup, hook] = await Promise.all([
    startServerWithMail({
      env: { TIDINGS_PUBLIC_URL: PUBLIC_URL },
      from: 'Acme <news@acme.example>',
      config: { dkim: { domainName: 'acme.example', keySelector: 'tid' } },
      credentials: { dkimPrivateKey: privateKey.export({ type: 'pkcs8', format: 'pem' }).toString() },
    }),
    startWebhookReceiver(),
  ]);
  ({ server, smtp } = setup);
  for (const [key, tracking] of [
    ['tracked', { opens: true, clicks: true }],
    ['opens-only', { opens: true }],
    ['untracked', undefined],
  ] as const) {
    const put = await server.call('PUT', `/v1/workflows/${key}`, {
      category: 'marketing',
      ...(tracking ? { tracking } : {}),
      channels: [{ channel: 'email', template: { subject: 'Shipped', html: HTML } }],
    });
    expect(put.status, JSON.stringify(put.body)).toBe(200);
  }
  const endpoint = await server.call('PUT', '/v1/webhook-endpoints/app', {
    url: hook.url,
    events: ['message.read', 'message.clicked'],
  });
  expect(endpoint.status).toBe(201);
});

afterAll(async () => {
  await Promise.all([setup?.close(), hook?.close()]);
});

beforeEach(() => smtp.reset());

/** Sends one email of `workflow` to `subscriberId`; answers its message id once it is `sent`, and the mail. */
async function sendOne(workflow: string, subscriberId: string) {
  const sent = await server.call('POST', '/v1/events', {
    workflow,
    to: [{ subscriberId, email: `${subscriberId}@example.com` }],
    data: { n: 7 },
  });
  expect(sent.status).toBe(202);
  const [mail] = await smtp.waitFor(1);
  const message = await waitFor(async () => {
    const event = (await server.call('GET', `/v1/events/${sent.body.eventId}`)).body;
    return event.messages?.[0]?.status === 'sent' ? event.messages[0] : null;
  }, 'the email sent');
  return { messageId: message.messageId as string, mail: mail! };
}

/** The path on this server of a link in the mail (the public URL's base removed). */
function localPath(url: string): string {
  expect(url.startsWith(`${PUBLIC_URL}/v1/t/`)).toBe(true);
  return url.slice(PUBLIC_URL.length);
}

function hrefs(html: string): string[] {
  return [...html.matchAll(/href="([^"]*)"/g)].map((m) => m[1]!.replace(/&amp;/g, '&'));
}

function pixelOf(html: string): string {
  const src = /<img src="([^"]+)" width="1" height="1"/.exec(html)?.[1];
  expect(src).toBeDefined();
  return localPath(src!);
}

const get = (path: string, init: RequestInit = {}) =>
  fetch(`${server.url}${path}`, { redirect: 'manual', ...init });

async function messageOf(messageId: string) {
  return (await server.call('GET', `/v1/messages/${messageId}`)).body;
}

function hookEvents(messageId: string): string[] {
  return hook.received
    .map((r) => r.json() as { type: string; data: { messageId: string } })
    .filter((e) => e.data.messageId === messageId)
    .map((e) => e.type);
}

describe('open and click tracking of emails', () => {
  it('adds a pixel and rewrites http(s) links in the HTML only; DKIM covers the final HTML', async () => {
    const { mail } = await sendOne('tracked', 'ann');
    const html = mail.html!;
    const [order, mailto, top, unsubscribe] = hrefs(html);
    expect(order).toMatch(new RegExp(`^${PUBLIC_URL}/v1/t/c/[\\w-]+\\.[\\w-]+\\?u=`));
    expect(new URL(order!).searchParams.get('u')).toBe(ORDER_URL);
    expect([mailto, top]).toEqual(['mailto:help@acme.example', '#top']);
    // Tidings' own links stay as they are (the one-click link matches the header's).
    expect(unsubscribe).toBe(/^<([^>]+)>$/.exec(mail.header('list-unsubscribe')!)?.[1]);
    expect(html).toMatch(
      /<img src="[^"]+\/v1\/t\/o\/[^"]+" width="1" height="1" alt=""[^>]*\/><\/body><\/html>$/,
    );
    // The text part is generated from the HTML before tracking: the reader's URLs, no tracking ones.
    expect(mail.text).toContain(ORDER_URL);
    expect(mail.text).not.toContain('/v1/t/');

    const verified = await dkimVerify(Buffer.from(mail.raw), {
      resolver: async () => [[dkimRecord]],
    });
    expect(verified.results[0]?.status.result).toBe('pass');
  });

  it('the pixel answers a GIF that is never cached and moves the message to read, once, with a timeline entry and a webhook', async () => {
    const { messageId, mail } = await sendOne('tracked', 'bea');
    const pixel = pixelOf(mail.html!);
    const answer = await get(pixel);
    expect(answer.status).toBe(200);
    expect(answer.headers.get('content-type')).toBe('image/gif');
    expect(answer.headers.get('cache-control')).toContain('no-store');
    expect(
      Buffer.from(await answer.arrayBuffer())
        .subarray(0, 6)
        .toString(),
    ).toBe('GIF89a');
    // Recorded before the answer.
    const message = await messageOf(messageId);
    expect(message.status).toBe('read');
    expect(message.timeline.at(-1)).toEqual({
      at: expect.any(String),
      status: 'read',
      detail: 'read receipt from the email’s open pixel',
    });
    await waitFor(() => hookEvents(messageId).includes('message.read'), 'the message.read webhook');
    // Opening it again changes nothing.
    expect((await get(pixel)).status).toBe(200);
    expect((await messageOf(messageId)).timeline).toHaveLength(message.timeline.length);
  });

  it('a click answers 302 to the original URL and moves the message to clicked', async () => {
    const { messageId, mail } = await sendOne('tracked', 'cai');
    const answer = await get(localPath(hrefs(mail.html!)[0]!));
    expect(answer.status).toBe(302);
    expect(answer.headers.get('location')).toBe(ORDER_URL);
    const message = await messageOf(messageId);
    expect(message.status).toBe('clicked');
    expect(message.timeline.at(-1).detail).toBe('clicked receipt from a tracked link in the email');
    await waitFor(() => hookEvents(messageId).includes('message.clicked'), 'the message.clicked webhook');
    // A later open does not move it back.
    await get(pixelOf(mail.html!));
    expect((await messageOf(messageId)).status).toBe('clicked');
  });

  it('a tampered or re-targeted click link answers 404 and records nothing; a bad pixel token still gets the GIF', async () => {
    const { messageId, mail } = await sendOne('tracked', 'dan');
    const link = new URL(`${server.url}${localPath(hrefs(mail.html!)[0]!)}`);
    const token = link.pathname.split('/').at(-1)!;
    const [body, mac] = token.split('.') as [string, string];
    const flipped = `${body}.${mac[0] === 'A' ? 'B' : 'A'}${mac.slice(1)}`;
    const tampered = await get(`/v1/t/c/${flipped}${link.search}`);
    expect(tampered.status).toBe(404);
    expect((await tampered.json()).error.code).toBe('not_found');
    // The real token with another target: never an open redirect.
    const elsewhere = await get(`/v1/t/c/${token}?u=${encodeURIComponent('https://evil.example/')}`);
    expect(elsewhere.status).toBe(404);
    expect(elsewhere.headers.get('location')).toBeNull();
    expect((await get(`/v1/t/c/${token}`)).status).toBe(404);

    const badPixel = await get(`/v1/t/o/${flipped}`);
    expect(badPixel.status).toBe(200);
    expect(badPixel.headers.get('content-type')).toBe('image/gif');
    expect((await get('/v1/t/o/not-a-token')).status).toBe(200);
    // A HEAD (a link checker) answers but opens nothing either.
    expect((await get(pixelOf(mail.html!), { method: 'HEAD' })).status).toBe(200);
    expect((await get(link.pathname + link.search, { method: 'HEAD' })).status).toBe(302);
    expect((await messageOf(messageId)).status).toBe('sent');
  });

  it('opens only: links stay as written; tracking off: the HTML is exactly what the template rendered', async () => {
    const opens = (await sendOne('opens-only', 'eve')).mail.html!;
    expect(hrefs(opens)[0]).toBe(ORDER_URL);
    expect(opens).toContain('/v1/t/o/');
    smtp.reset();
    const { mail } = await sendOne('untracked', 'fay');
    const unsubscribe = /^<([^>]+)>$/.exec(mail.header('list-unsubscribe')!)?.[1];
    expect(mail.html).toBe(
      HTML.replace('{{ data.n }}', '7').replace('{{ links.unsubscribe }}', unsubscribe!),
    );
  });

  it('refuses a tracking field that is not two booleans, naming the field', async () => {
    const put = await server.call('PUT', '/v1/workflows/bad-tracking', {
      tracking: { opens: 'yes' },
      channels: [{ channel: 'email', template: { subject: 'x', text: 'y' } }],
    });
    expect(put.status).toBe(400);
    expect(JSON.stringify(put.body.error.details)).toContain('tracking');
  });
});
