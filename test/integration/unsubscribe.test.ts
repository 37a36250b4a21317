import { generateKeyPairSync } from 'node:crypto';
import { dkimVerify } from 'mailauth/lib/dkim/verify.js';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { FakeSmtp } from '../fakes/smtp.ts';
import { type ServerWithMail, startServerWithMail } from '../helpers/mail-server.ts';
import type { TestServer } from '../helpers/server.ts';
import { waitFor } from '../helpers/wait.ts';

// A public URL with a path, as behind a reverse proxy: links keep the path.
const PUBLIC_URL = 'https://notify.example.test/tidings';

const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
const dkimRecord = `v=DKIM1; k=rsa; p=${publicKey.export({ type: 'spki', format: 'der' }).toString('base64')}`;

let setup: ServerWithMail;
let server: TestServer;
let smtp: FakeSmtp;

beforeAll(async () => {
  setup = await startServerWithMail({
    env: { TIDINGS_PUBLIC_URL: PUBLIC_URL },
    from: 'Acme <news@acme.example>',
    config: { dkim: { domainName: 'acme.example', keySelector: 'tid' } },
    credentials: { dkimPrivateKey: privateKey.export({ type: 'pkcs8', format: 'pem' }).toString() },
  });
  ({ server, smtp } = setup);
  for (const [key, category] of [
    ['newsletter', 'marketing'],
    ['reset', 'security'],
    ['digest-mail', undefined],
  ] as const) {
    const put = await server.call('PUT', `/v1/workflows/${key}`, {
      ...(category ? { category } : {}),
      channels: [{ channel: 'email', template: { subject: 'Hello', text: 'Hi {{ data.n }}' } }],
    });
    expect(put.status).toBe(200);
  }
});

afterAll(() => setup?.close());

beforeEach(() => smtp.reset());

async function send(workflow: string, subscriberId: string): Promise<string> {
  const sent = await server.call('POST', '/v1/events', {
    workflow,
    to: [{ subscriberId, email: `${subscriberId}@example.com` }],
    data: { n: 1 },
  });
  expect(sent.status).toBe(202);
  return sent.body.eventId;
}

/** The path on this server of a List-Unsubscribe link (the public URL's base removed). */
function localPath(header: string): string {
  const url = /^<([^>]+)>$/.exec(header)?.[1];
  expect(url?.startsWith(`${PUBLIC_URL}/v1/unsubscribe/`)).toBe(true);
  return url!.slice(PUBLIC_URL.length);
}

const oneClick = (
  path: string,
  body = 'List-Unsubscribe=One-Click',
  type = 'application/x-www-form-urlencoded',
) => server.call('POST', path, body, { auth: null, headers: { 'content-type': type } });

describe('one-click unsubscribe (RFC 8058) and DKIM', () => {
  it('a marketing email carries both headers, DKIM covers them and verifies; one click opts out before it answers', async () => {
    await send('newsletter', 'ann');
    const [mail] = await smtp.waitFor(1);
    const link = mail!.header('list-unsubscribe')!;
    expect(mail!.header('list-unsubscribe-post')).toBe('List-Unsubscribe=One-Click');

    const verified = await dkimVerify(Buffer.from(mail!.raw), {
      resolver: async (name: string, type: string) => {
        expect([name, type]).toEqual(['tid._domainkey.acme.example', 'TXT']);
        return [[dkimRecord]];
      },
    });
    const [signature] = verified.results;
    expect(signature?.status.result).toBe('pass');
    // mailauth reports the h= list it checked (not in its type declarations).
    const { signingHeaders } = signature as unknown as { signingHeaders: { keys: string } };
    const signed = signingHeaders.keys.toLowerCase().split(': ');
    expect(signed).toEqual(expect.arrayContaining(['list-unsubscribe', 'list-unsubscribe-post']));

    const path = localPath(link);
    // Looking at the link (a mail scanner, a preview) changes nothing.
    const page = await server.call('GET', path, undefined, { auth: null });
    expect(page.status).toBe(200);
    expect(page.headers.get('content-type')).toMatch(/^text\/html/);
    expect(page.body).toContain('List-Unsubscribe');
    expect((await server.call('GET', '/v1/subscribers/ann/preferences')).body.categories).toEqual({});

    const clicked = await oneClick(path);
    expect(clicked.status).toBe(200);
    expect(clicked.headers.get('location')).toBeNull();
    const prefs = (await server.call('GET', '/v1/subscribers/ann/preferences')).body;
    expect(prefs.categories).toEqual({ marketing: { email: false } });
    const log = (await server.call('GET', '/v1/subscribers/ann/consent-log')).body.items;
    expect(log).toEqual([
      {
        at: expect.any(String),
        change: { preferences: { categories: { marketing: { email: false } } } },
        source: 'unsubscribe_link',
        detail: expect.stringContaining('marketing'),
      },
    ]);

    // The next marketing email is suppressed and never reaches the SMTP server.
    const next = await send('newsletter', 'ann');
    const view = await waitFor(async () => {
      const event = (await server.call('GET', `/v1/events/${next}`)).body;
      return event.messages?.[0]?.status === 'suppressed' ? event : null;
    }, 'the next newsletter suppressed');
    expect(view.messages[0].reason).toBe('opted_out');
    expect(smtp.received).toHaveLength(1);
  });

  it('security emails carry no unsubscribe link; a workflow without a category is unsubscribed as a whole', async () => {
    await send('reset', 'bob');
    await send('digest-mail', 'bob');
    const mails = await smtp.waitFor(2);
    const reset = mails.find((m) => m.header('subject') === 'Hello' && !m.header('list-unsubscribe'));
    expect(reset).toBeDefined();
    const other = mails.find((m) => m.header('list-unsubscribe'))!;
    expect((await oneClick(localPath(other.header('list-unsubscribe')!))).status).toBe(200);
    const prefs = (await server.call('GET', '/v1/subscribers/bob/preferences')).body;
    expect(prefs.workflows).toEqual({ 'digest-mail': { enabled: false } });
  });

  it('multipart one-click bodies work; a forged token is 404, a wrong body 400, and neither changes anything', async () => {
    await send('newsletter', 'cy');
    const [mail] = await smtp.waitFor(1);
    const path = localPath(mail!.header('list-unsubscribe')!);
    const token = path.split('/').at(-1)!;
    const forged = `${token.slice(0, -2)}${token.endsWith('AA') ? 'BB' : 'AA'}`;
    expect((await oneClick(`/v1/unsubscribe/${forged}`)).status).toBe(404);
    expect((await server.call('GET', `/v1/unsubscribe/${forged}`, undefined, { auth: null })).status).toBe(
      404,
    );
    // A browser opening the cut link reads a page saying so (found by the subscribers audit: it
    // showed the JSON error); a program still gets the JSON envelope.
    const browser = await fetch(`${server.url}/v1/unsubscribe/${forged}`, {
      headers: { accept: 'text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8' },
    });
    expect(browser.status).toBe(404);
    expect(browser.headers.get('content-type')).toMatch(/^text\/html/);
    expect(browser.headers.get('access-control-allow-origin')).toBe('*');
    expect(await browser.text()).toContain('not valid');
    const program = await server.call('GET', `/v1/unsubscribe/${forged}`, undefined, { auth: null });
    expect(program.body.error.code).toBe('not_found');
    const wrong = await oneClick(path, 'List-Unsubscribe=Yes');
    expect(wrong.status).toBe(400);
    expect(wrong.body.error.details[0].path).toBe('List-Unsubscribe');
    // Another body type is told what the route takes: a form, not JSON.
    const text = await oneClick(path, 'List-Unsubscribe=One-Click', 'text/plain');
    expect(text.status).toBe(415);
    expect(text.body.error.message).toBe(
      'send the body as application/x-www-form-urlencoded (or multipart/form-data)',
    );
    expect((await server.call('GET', '/v1/subscribers/cy/preferences')).body.categories).toEqual({});

    const boundary = 'xYzZy';
    const multipart = `--${boundary}\r\nContent-Disposition: form-data; name="List-Unsubscribe"\r\n\r\nOne-Click\r\n--${boundary}--\r\n`;
    const ok = await oneClick(path, multipart, `multipart/form-data; boundary=${boundary}`);
    expect(ok.status).toBe(200);
    expect((await server.call('GET', '/v1/subscribers/cy/preferences')).body.categories).toEqual({
      marketing: { email: false },
    });
  });

  it("an erased subscriber's link opts out nobody of a later subscriber of the same id", async () => {
    await send('newsletter', 'phoenix');
    const [mail] = await smtp.waitFor(1);
    const path = localPath(mail!.header('list-unsubscribe')!);
    expect((await server.call('DELETE', '/v1/subscribers/phoenix')).status).toBe(202);
    await waitFor(
      async () => (await server.call('GET', '/v1/subscribers/phoenix')).status === 404,
      'phoenix erased',
    );
    expect((await server.call('PUT', '/v1/subscribers/phoenix', { email: 'new@example.com' })).status).toBe(
      200,
    );

    // The page still answers (the link is genuine), and nothing of the new subscriber changes.
    const clicked = await oneClick(path);
    expect(clicked.status).toBe(200);
    expect((await server.call('GET', '/v1/subscribers/phoenix/preferences')).body.categories).toEqual({});
    expect((await server.call('GET', '/v1/subscribers/phoenix/consent-log')).body.items).toEqual([]);

    // The new subscriber's own link works.
    smtp.reset();
    await send('newsletter', 'phoenix');
    const [theirs] = await smtp.waitFor(1);
    expect((await oneClick(localPath(theirs!.header('list-unsubscribe')!))).status).toBe(200);
    const prefs = (await server.call('GET', '/v1/subscribers/phoenix/preferences')).body;
    expect(prefs.categories).toEqual({ marketing: { email: false } });
  });
});
