import { generateKeyPairSync, type KeyObject, randomUUID } from 'node:crypto';
import { rmSync } from 'node:fs';
import {
  constants,
  createSecureServer,
  type Http2Session,
  type IncomingHttpHeaders,
  type ServerHttp2Stream,
} from 'node:http2';
import { type AddressInfo, connect, createServer, type Server, type Socket } from 'node:net';
import { decodeProtectedHeader, jwtVerify } from 'jose';
import type { ConformanceFake, FakeRequest } from '../channels/conformance.ts';
import { selfSignedCertificate } from './certificates.ts';

/**
 * A local APNs: a real HTTP/2 server over TLS (a self-signed certificate made at start with
 * openssl, for 127.0.0.1) that answers like Apple's provider API (`POST /3/device/<token>`,
 * empty 200 with `apns-id`, errors as `{"reason": …}`), checking what Apple checks: the ES256
 * provider token against the public key (kid, iss, iat younger than an hour), the topic, the
 * payload size. In front of it sits a TCP relay that counts connections and can freeze them (a
 * peer that stops answering, PINGs included).
 *
 * ```ts
 * const fake = await startApnsFake({ publicKey, teamId: 'TEAM123456', keyId: 'KEY1234567', bundleId: 'com.acme.app' });
 * fake.answerNext({ status: 410, reason: 'Unregistered' });
 * createApnsProvider({ …, endpoint: fake.url }, { privateKey }, context, { ca: fake.ca });
 * ```
 */

/** One scripted answer. */
export interface ApnsAnswer {
  status: number;
  reason?: string;
  headers?: Record<string, string>;
}

export interface ApnsFakeOptions {
  publicKey: KeyObject;
  teamId: string;
  keyId: string;
  bundleId: string;
  /** SETTINGS_MAX_CONCURRENT_STREAMS the server announces (APNs: ~1000 once a token is valid). */
  maxConcurrentStreams?: number;
  /**
   * Like APNs with token auth: announce this limit first (APNs: 1), and raise it to
   * `maxConcurrentStreams` once a request on the connection carried a valid token.
   */
  initialMaxConcurrentStreams?: number;
  /** Keep every request in `requests` (default); the bench turns it off to count 100k pushes only. */
  keepRequests?: boolean;
}

export interface ApnsFake extends ConformanceFake {
  /** `https://127.0.0.1:<port>`: the relay, which every client connection goes through. */
  readonly url: string;
  /** The certificate to trust (PEM). */
  readonly ca: string;
  /** TCP connections accepted so far. */
  readonly connections: number;
  /** The most requests the server had in progress at once, over all connections. */
  readonly peakStreams: number;
  /** How many times each apns-id was answered 200: a duplicate shows as 2. */
  readonly acceptedByApnsId: ReadonlyMap<string, number>;
  /** Answers for the next requests, in order, after the request passed Apple's own checks. */
  answerNext(...answers: ApnsAnswer[]): void;
  /** The answer for every request to this device token (until `reset`). */
  answerFor(deviceToken: string, answer: ApnsAnswer): void;
  /**
   * After the `n`-th request from now arrives, send GOAWAY (NO_ERROR unless `code` says) on its
   * connection with that stream as the last one processed: earlier streams are answered, later
   * ones never are.
   */
  goawayAfter(n: number, code?: number): void;
  /** Stops relaying on every open connection: the client's requests and PINGs go unanswered. */
  freeze(): void;
  /** Forgets requests, counts and scripts. */
  reset(): void;
}

export async function startApnsFake(options: ApnsFakeOptions): Promise<ApnsFake> {
  const tls = selfSignedCertificate();
  const requests: FakeRequest[] = [];
  const acceptedByApnsId = new Map<string, number>();
  const next: ApnsAnswer[] = [];
  const perToken = new Map<string, ApnsAnswer>();
  const verified = new Map<string, string | null>();
  let goawayCountdown: number | undefined;
  let goawayCode: number = constants.NGHTTP2_NO_ERROR;
  const goneAway = new WeakMap<Http2Session, number>();

  const server = createSecureServer({
    key: tls.key,
    cert: tls.cert,
    allowHTTP1: false,
    settings: {
      maxConcurrentStreams: options.initialMaxConcurrentStreams ?? options.maxConcurrentStreams ?? 1000,
    },
  });
  const raised = new WeakSet<Http2Session>();
  let inProgress = 0;
  let peakStreams = 0;
  server.on('sessionError', () => undefined);
  const sessions = new Set<Http2Session>();
  server.on('session', (session) => {
    sessions.add(session);
    session.on('close', () => sessions.delete(session));
  });
  server.on('stream', (stream: ServerHttp2Stream, headers: IncomingHttpHeaders) => {
    stream.on('error', () => undefined);
    const session = stream.session!;
    const streamId = stream.id!;
    const lastStreamId = goneAway.get(session);
    // Above the GOAWAY's last stream: not processed, as the GOAWAY told the client.
    if (lastStreamId !== undefined && streamId > lastStreamId) {
      stream.close(constants.NGHTTP2_REFUSED_STREAM);
      return;
    }
    if (goawayCountdown !== undefined && --goawayCountdown === 0) {
      goawayCountdown = undefined;
      goneAway.set(session, streamId);
      session.goaway(goawayCode, streamId);
    }
    inProgress++;
    peakStreams = Math.max(peakStreams, inProgress);
    stream.once('close', () => inProgress--);
    const chunks: Buffer[] = [];
    stream.on('data', (chunk: Buffer) => chunks.push(chunk));
    stream.on('end', () => {
      const body = Buffer.concat(chunks).toString('utf8');
      void answer(stream, headers, body);
    });
  });

  async function answer(stream: ServerHttp2Stream, headers: IncomingHttpHeaders, body: string) {
    const flat: Record<string, string> = {};
    for (const [name, value] of Object.entries(headers)) {
      if (value !== undefined) flat[name] = Array.isArray(value) ? value.join(', ') : String(value);
    }
    const request: FakeRequest = {
      method: flat[':method'] ?? '',
      path: flat[':path'] ?? '',
      headers: flat,
      body,
    };
    if (options.keepRequests !== false) requests.push(request);
    const apnsId = flat['apns-id'] ?? randomUUID();
    const deviceToken = /^\/3\/device\/([^/?]+)$/.exec(request.path)?.[1];
    const verdict =
      (await appleChecks(request, deviceToken)) ??
      (deviceToken ? perToken.get(deviceToken) : undefined) ??
      next.shift() ??
      ({ status: 200 } as ApnsAnswer);
    if (stream.destroyed || stream.closed) return;
    const session = stream.session;
    if (
      verdict.status !== 403 &&
      options.initialMaxConcurrentStreams !== undefined &&
      session &&
      !raised.has(session)
    ) {
      raised.add(session);
      session.settings({ maxConcurrentStreams: options.maxConcurrentStreams ?? 1000 });
    }
    if (verdict.status === 200) acceptedByApnsId.set(apnsId, (acceptedByApnsId.get(apnsId) ?? 0) + 1);
    const reply = verdict.reason === undefined ? '' : JSON.stringify({ reason: verdict.reason });
    stream.respond({
      ':status': verdict.status,
      'apns-id': apnsId,
      ...(reply ? { 'content-type': 'application/json' } : {}),
      ...verdict.headers,
    });
    stream.end(reply);
  }

  /** What APNs refuses before looking at the device: method, path, token, topic, payload. */
  async function appleChecks(
    request: FakeRequest,
    deviceToken: string | undefined,
  ): Promise<ApnsAnswer | null> {
    if (request.method !== 'POST') return { status: 405, reason: 'MethodNotAllowed' };
    if (!deviceToken) return { status: 404, reason: 'BadPath' };
    const authorization = request.headers.authorization ?? '';
    if (!authorization.startsWith('bearer ')) return { status: 403, reason: 'MissingProviderToken' };
    const problem = await checkToken(authorization.slice('bearer '.length));
    if (problem) return { status: 403, reason: problem };
    if (!request.headers['apns-topic']) return { status: 400, reason: 'MissingTopic' };
    if (request.headers['apns-topic'] !== options.bundleId) return { status: 400, reason: 'BadTopic' };
    if (Buffer.byteLength(request.body) > 4096) return { status: 413, reason: 'PayloadTooLarge' };
    try {
      if (typeof (JSON.parse(request.body) as { aps?: unknown }).aps !== 'object') {
        return { status: 400, reason: 'PayloadEmpty' };
      }
    } catch {
      return { status: 400, reason: 'PayloadEmpty' };
    }
    return null;
  }

  async function checkToken(token: string): Promise<string | null> {
    if (verified.has(token)) return verified.get(token)!;
    let problem: string | null = null;
    try {
      const header = decodeProtectedHeader(token);
      const { payload } = await jwtVerify(token, options.publicKey, {
        algorithms: ['ES256'],
        issuer: options.teamId,
        requiredClaims: ['iat'],
      });
      if (header.kid !== options.keyId) problem = 'InvalidProviderToken';
      else if (Date.now() / 1000 - (payload.iat ?? 0) > 3600) problem = 'ExpiredProviderToken';
    } catch {
      problem = 'InvalidProviderToken';
    }
    verified.set(token, problem);
    return problem;
  }

  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const upstreamPort = (server.address() as AddressInfo).port;
  const relay = startRelay(upstreamPort);
  const relayPort = await relay.listening;

  return {
    url: `https://127.0.0.1:${relayPort}`,
    ca: tls.cert,
    requests,
    acceptedByApnsId,
    get connections() {
      return relay.count();
    },
    get peakStreams() {
      return peakStreams;
    },
    answerNext: (...answers) => next.push(...answers),
    answerFor: (token, answer) => perToken.set(token, answer),
    goawayAfter(n, code = constants.NGHTTP2_NO_ERROR) {
      goawayCountdown = n;
      goawayCode = code;
    },
    freeze: () => relay.freeze(),
    reset() {
      requests.length = 0;
      acceptedByApnsId.clear();
      next.length = 0;
      perToken.clear();
      goawayCountdown = undefined;
      peakStreams = inProgress;
    },
    async close() {
      await relay.close();
      // An HTTP/2 server's close waits for its sessions: end them.
      for (const session of sessions) session.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      rmSync(tls.dir, { recursive: true, force: true });
    },
  };
}

/** A TCP relay to the TLS server: counts connections, and can stop relaying (a dead peer). */
function startRelay(upstreamPort: number) {
  const pairs = new Set<[Socket, Socket]>();
  let count = 0;
  const relay: Server = createServer((client) => {
    count++;
    const upstream = connect(upstreamPort, '127.0.0.1');
    const pair: [Socket, Socket] = [client, upstream];
    pairs.add(pair);
    client.pipe(upstream);
    upstream.pipe(client);
    const end = () => {
      pairs.delete(pair);
      client.destroy();
      upstream.destroy();
    };
    client.on('error', end).on('close', end);
    upstream.on('error', end).on('close', end);
  });
  const listening = new Promise<number>((resolve) =>
    relay.listen(0, '127.0.0.1', () => resolve((relay.address() as AddressInfo).port)),
  );
  return {
    listening,
    count: () => count,
    freeze() {
      for (const [client, upstream] of pairs) {
        client.unpipe(upstream);
        upstream.unpipe(client);
        client.pause();
        upstream.pause();
      }
    },
    close: () =>
      new Promise<void>((resolve) => {
        for (const [client, upstream] of pairs) {
          client.destroy();
          upstream.destroy();
        }
        relay.close(() => resolve());
      }),
  };
}

/** A fresh APNs-style signing key pair: the private half as a .p8 PEM, the public half for the fake. */
export function apnsKeyPair(): { privateKey: string; publicKey: KeyObject } {
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
  return { privateKey: privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(), publicKey };
}
