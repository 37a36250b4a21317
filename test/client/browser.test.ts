import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { createServer, request as forward, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { signWebhook } from '../../src/channels/webhook/signature.ts';
import { startTestServer, type TestServer } from '../helpers/server.ts';

const CHROMIUM = [process.env.CHROMIUM_PATH, '/usr/bin/chromium', '/usr/bin/chromium-browser'].find(
  (candidate) => candidate && existsSync(candidate),
);
const CLIENT_FILE = fileURLToPath(new URL('../../client/index.js', import.meta.url));
const SECRET = 'whsec_' + Buffer.from('browser-webhook-secret-0123456789').toString('base64');

/** The page: the committed client, loaded as a browser loads an ES module, used against the API. */
function page(apiKey: string, webhook: { body: string; headers: Record<string, string> }): string {
  return `<!doctype html><script type="module">
    import { Tidings, TidingsError } from '/client/index.js';
    const report = (result) => fetch('/result', { method: 'POST', body: JSON.stringify(result) });
    try {
      const tidings = new Tidings({ url: location.origin, apiKey: ${JSON.stringify(apiKey)} });
      await tidings.workflows.put('browser', { channels: [{ channel: 'in_app', template: { title: 'Hi' } }] });
      const accepted = await tidings.events.trigger({ workflow: 'browser', to: ['browser_1'] });
      const event = await tidings.events.get(accepted.eventId);
      const missing = await tidings.workflows.get('missing').catch((e) => e);
      const verified = await tidings.webhooks.verify(${JSON.stringify(webhook.body)}, ${JSON.stringify(webhook.headers)}, ${JSON.stringify(SECRET)});
      const forged = await tidings.webhooks.verify('{}', ${JSON.stringify(webhook.headers)}, ${JSON.stringify(SECRET)}).catch((e) => e);
      await report({
        eventId: event.eventId,
        workflow: event.workflow,
        error: { name: missing.name, isError: missing instanceof TidingsError, status: missing.status, code: missing.code },
        verified,
        forged: forged.code,
      });
    } catch (error) {
      await report({ failed: String(error && error.stack || error) });
    }
  </script>`;
}

let server: TestServer;
let site: Server;
let browser: ChildProcess | null = null;
let result: Promise<Record<string, unknown>>;

beforeAll(async () => {
  if (!CHROMIUM) return;
  server = await startTestServer();
  const id = 'msg_browser';
  const timestamp = Math.floor(Date.now() / 1000);
  const body = JSON.stringify({ type: 'message.sent', data: { messageId: id } });
  const webhook = {
    body,
    headers: {
      'webhook-id': id,
      'webhook-timestamp': String(timestamp),
      'webhook-signature': signWebhook(SECRET, id, timestamp, body),
    },
  };
  const upstream = new URL(server.url);
  let deliver: (value: Record<string, unknown>) => void = () => undefined;
  result = new Promise((resolve) => {
    deliver = resolve;
  });
  // One origin for the page, the client file and the API (proxied), as a same-origin app would have.
  site = createServer((req, res) => {
    if (req.url === '/') {
      res.writeHead(200, { 'content-type': 'text/html' }).end(page(server.key, webhook));
    } else if (req.url === '/client/index.js') {
      res.writeHead(200, { 'content-type': 'text/javascript' }).end(readFileSync(CLIENT_FILE));
    } else if (req.url === '/result') {
      let text = '';
      req.on('data', (chunk) => {
        text += chunk;
      });
      req.on('end', () => {
        res.writeHead(204).end();
        deliver(JSON.parse(text));
      });
    } else if (req.url?.startsWith('/v1/')) {
      const out = forward(
        {
          host: upstream.hostname,
          port: upstream.port,
          method: req.method,
          path: req.url,
          headers: req.headers,
        },
        (answer) => {
          res.writeHead(answer.statusCode ?? 502, answer.headers);
          answer.pipe(res);
        },
      );
      req.pipe(out);
    } else {
      res.writeHead(404).end();
    }
  });
  await new Promise<void>((resolve) => site.listen(0, '127.0.0.1', resolve));
  const { port } = site.address() as AddressInfo;
  browser = spawn(
    CHROMIUM,
    [
      '--headless=new',
      '--no-sandbox',
      '--disable-gpu',
      '--no-first-run',
      `--user-data-dir=${mkdtempSync(path.join(tmpdir(), 'tidings-chromium-'))}`,
      `http://127.0.0.1:${port}/`,
    ],
    // Its own process group, so the browser's helper processes end with it.
    { stdio: 'ignore', detached: true },
  );
}, 60_000);

afterAll(async () => {
  if (browser?.pid) {
    try {
      process.kill(-browser.pid, 'SIGKILL');
    } catch {
      // already gone
    }
  }
  await new Promise<void>((resolve) => (site ? site.close(() => resolve()) : resolve()));
  await server?.close();
});

describe.runIf(CHROMIUM)('the client in a real browser (Chromium)', () => {
  it('loads as an ES module, calls the API, throws TidingsError and verifies webhooks with WebCrypto', async () => {
    const outcome = await result;
    expect(outcome.failed).toBeUndefined();
    expect(outcome.eventId).toMatch(/^evt_/);
    expect(outcome.workflow).toBe('browser');
    expect(outcome.error).toEqual({ name: 'TidingsError', isError: true, status: 404, code: 'not_found' });
    expect(outcome.verified).toEqual({ type: 'message.sent', data: { messageId: 'msg_browser' } });
    expect(outcome.forged).toBe('invalid_signature');
  }, 60_000);
});
