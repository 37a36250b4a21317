import { createDecipheriv, createECDH, createHmac, createPublicKey, randomBytes } from 'node:crypto';
import { createServer, type IncomingHttpHeaders, type RequestListener } from 'node:http';
import { createServer as createTlsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { jwtVerify } from 'jose';
import type { ConformanceFake, FakeRequest } from '../channels/conformance.ts';

/**
 * A local Web Push service (RFC 8030; node:http on 127.0.0.1) for the `webpush` adapter's tests.
 * `subscribe()` does what a browser does — an ECDH P-256 key pair and a 16-byte auth secret — and
 * returns the PushSubscription. For each push the fake checks the VAPID JWT (RFC 8292: ES256, signed
 * by the `k` key the subscription was made for, `aud` this origin, `exp` within 24 h, a mailto: or
 * https: `sub`), the `TTL` header, and DECRYPTS the aes128gcm body (RFC 8188/8291) with the
 * subscription's private key and auth secret, keeping the plaintext for the test to compare.
 * Answers 201 with a `Location`, or the next scripted answer.
 */

/** A browser-side subscription: what the server stores and what only the browser knows. */
export interface FakeSubscription {
  /** What `PushSubscription.toJSON()` gives the application server. */
  subscription: { endpoint: string; keys: { p256dh: string; auth: string } };
  id: string;
}

export interface ReceivedPush {
  subscriptionId: string;
  /** The decrypted payload (UTF-8), exactly what the service worker would see. */
  plaintext: string;
  headers: Record<string, string>;
}

export interface WebPushFake extends ConformanceFake {
  readonly url: string;
  /** Every request to a push resource; `body` is the encrypted body, base64. */
  readonly requests: FakeRequest[];
  /** Pushes that passed every check, decrypted. */
  readonly received: ReceivedPush[];
  /** Why requests were refused (for failing tests' messages). */
  readonly refusals: string[];
  /** Subscribes a new browser to pushes from the holder of `applicationServerKey` (VAPID public key). */
  subscribe(applicationServerKey: string): FakeSubscription;
  /** Answers the next pushes with these statuses (after the checks), in order. */
  failNext(...answers: { status: number; headers?: Record<string, string> }[]): void;
  close(): Promise<void>;
}

interface BrowserKeys {
  ecdh: ReturnType<typeof createECDH>;
  auth: Buffer;
  applicationServerKey: string;
}

export interface WebPushFakeOptions {
  /**
   * Serve HTTPS with this key and certificate (browsers' subscriptions are https URLs, and the
   * devices API takes no other); the client must trust the certificate (NODE_EXTRA_CA_CERTS).
   */
  tls?: { key: string; cert: string };
}

export async function startWebPushFake(options: WebPushFakeOptions = {}): Promise<WebPushFake> {
  const browsers = new Map<string, BrowserKeys>();
  const requests: FakeRequest[] = [];
  const received: ReceivedPush[] = [];
  const refusals: string[] = [];
  const answers: { status: number; headers?: Record<string, string> }[] = [];
  let origin = '';
  let accepted = 0;

  const handle: RequestListener = (req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const body = Buffer.concat(chunks);
      const headers = flatten(req.headers);
      requests.push({
        method: req.method ?? '',
        path: req.url ?? '/',
        headers,
        body: body.toString('base64'),
      });
      const refuse = (status: number, why: string) => {
        refusals.push(why);
        res.writeHead(status, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ code: status, errno: 0, error: why }));
      };
      void (async () => {
        const id = /^\/push\/([A-Za-z0-9_-]+)$/.exec(req.url ?? '')?.[1];
        const browser = id ? browsers.get(id) : undefined;
        if (req.method !== 'POST' || !id || !browser) return refuse(404, 'no such subscription');
        if (!/^\d+$/.test(headers.ttl ?? '')) return refuse(400, 'missing or invalid TTL header');
        if (headers['content-encoding'] !== 'aes128gcm')
          return refuse(400, 'content-encoding is not aes128gcm');
        if (body.length > 4096) return refuse(413, 'payload larger than 4096 bytes');
        const vapid = await checkVapid(headers.authorization ?? '', browser.applicationServerKey, origin);
        if (vapid) return refuse(403, vapid);
        let plaintext: string;
        try {
          plaintext = decryptAes128gcm(body, browser.ecdh, browser.auth).toString('utf8');
        } catch (error) {
          return refuse(400, `cannot decrypt: ${(error as Error).message}`);
        }
        const scripted = answers.shift();
        if (scripted) {
          res.writeHead(scripted.status, scripted.headers);
          res.end();
          return;
        }
        received.push({ subscriptionId: id, plaintext, headers });
        accepted++;
        res.writeHead(201, { location: `${origin}/message/${id}-${accepted}` });
        res.end();
      })().catch((error: unknown) => refuse(500, String(error)));
    });
  };
  const server = options.tls ? createTlsServer(options.tls, handle) : createServer(handle);

  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  origin = `${options.tls ? 'https' : 'http'}://127.0.0.1:${port}`;

  return {
    url: origin,
    requests,
    received,
    refusals,
    subscribe(applicationServerKey) {
      const ecdh = createECDH('prime256v1');
      ecdh.generateKeys();
      const auth = randomBytes(16);
      const id = randomBytes(12).toString('base64url');
      browsers.set(id, { ecdh, auth, applicationServerKey });
      return {
        id,
        subscription: {
          endpoint: `${origin}/push/${id}`,
          keys: { p256dh: ecdh.getPublicKey().toString('base64url'), auth: auth.toString('base64url') },
        },
      };
    },
    failNext: (...more) => void answers.push(...more),
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

/** RFC 8292 §3: `vapid t=<JWT>, k=<public key>`; null when valid, else why not. */
async function checkVapid(
  authorization: string,
  expectedKey: string,
  audience: string,
): Promise<string | null> {
  const match = /^vapid t=([^,\s]+),\s*k=([A-Za-z0-9_-]+)$/.exec(authorization);
  if (!match) return 'no vapid authorization';
  const [, jwt = '', k = ''] = match;
  // RFC 8292 §4.2 (restricted subscriptions): the key must be the one the browser subscribed with.
  if (k !== expectedKey) return 'the VAPID key is not the one this subscription was made for';
  const point = Buffer.from(k, 'base64url');
  if (point.length !== 65 || point[0] !== 4) return 'k is not an uncompressed P-256 point';
  const key = createPublicKey({
    key: {
      kty: 'EC',
      crv: 'P-256',
      x: point.subarray(1, 33).toString('base64url'),
      y: point.subarray(33).toString('base64url'),
    },
    format: 'jwk',
  });
  try {
    const { payload } = await jwtVerify(jwt, key, { algorithms: ['ES256'], audience });
    if (typeof payload.exp !== 'number' || payload.exp > Date.now() / 1000 + 24 * 3600) {
      return 'exp is missing or more than 24 hours ahead';
    }
    if (typeof payload.sub !== 'string' || !/^(mailto:|https:)/.test(payload.sub)) {
      return 'sub is not a mailto: or https: URL';
    }
  } catch (error) {
    return `invalid VAPID JWT: ${(error as Error).message}`;
  }
  return null;
}

const hmac = (key: Buffer, data: Buffer) => createHmac('sha256', key).update(data).digest();

/**
 * RFC 8291 §3.4 + RFC 8188 §2, one record: header = salt(16) | rs(4) | idlen(1) | keyid (the
 * sender's ephemeral public key), then AES-128-GCM ciphertext and tag; the plaintext ends with the
 * last-record delimiter 0x02 and optional zero padding.
 */
function decryptAes128gcm(body: Buffer, ecdh: ReturnType<typeof createECDH>, auth: Buffer): Buffer {
  const salt = body.subarray(0, 16);
  const recordSize = body.readUInt32BE(16);
  const idLength = body[20] ?? 0;
  const senderKey = body.subarray(21, 21 + idLength);
  const record = body.subarray(21 + idLength);
  if (idLength !== 65) throw new Error(`keyid is ${idLength} bytes, not a P-256 public key`);
  if (record.length > recordSize) throw new Error('more than one record');

  const shared = ecdh.computeSecret(senderKey);
  // HKDF-Extract(auth, ecdh_secret), then HKDF-Expand with "WebPush: info" || ua_public || as_public.
  const prkKey = hmac(auth, shared);
  const keyInfo = Buffer.concat([Buffer.from('WebPush: info\0'), ecdh.getPublicKey(), senderKey]);
  const ikm = hmac(prkKey, Buffer.concat([keyInfo, Buffer.from([1])]));
  const prk = hmac(salt, ikm);
  const cek = hmac(prk, Buffer.from('Content-Encoding: aes128gcm\0\x01')).subarray(0, 16);
  const nonce = hmac(prk, Buffer.from('Content-Encoding: nonce\0\x01')).subarray(0, 12);

  const decipher = createDecipheriv('aes-128-gcm', cek, nonce);
  decipher.setAuthTag(record.subarray(record.length - 16));
  const padded = Buffer.concat([decipher.update(record.subarray(0, record.length - 16)), decipher.final()]);
  let end = padded.length - 1;
  while (end >= 0 && padded[end] === 0) end--;
  if (padded[end] !== 2) throw new Error('no last-record delimiter');
  return padded.subarray(0, end);
}

function flatten(headers: IncomingHttpHeaders): Record<string, string> {
  const flat: Record<string, string> = {};
  for (const [name, value] of Object.entries(headers)) {
    if (value !== undefined) flat[name] = Array.isArray(value) ? value.join(', ') : value;
  }
  return flat;
}
