import { generateKeyPairSync, type KeyObject } from 'node:crypto';
import { createServer, type IncomingHttpHeaders } from 'node:http';
import type { AddressInfo } from 'node:net';
import { jwtVerify } from 'jose';
import type { ConformanceFake, FakeRequest } from '../channels/conformance.ts';

/**
 * A local FCM HTTP v1 server (node:http on 127.0.0.1) with its own OAuth token endpoint, for the
 * `fcm` adapter's tests:
 * - `POST /token` checks the RS256 assertion (RFC 7523) against the service account's public key
 *   (`iss`/`sub` the client email, `aud` this token URI, the firebase.messaging scope, a lifetime
 *   of at most an hour) and answers `{access_token, expires_in, token_type}`; it counts exchanges.
 * - `POST /v1/projects/{projectId}/messages:send` checks the bearer token (a 401 UNAUTHENTICATED
 *   in Google's shape otherwise), then answers the next scripted error, or
 *   `{"name": "projects/{projectId}/messages/{n}"}`.
 *
 * ```ts
 * const fcm = await startFcmFake();
 * createFcmProvider({ projectId: fcm.projectId, endpoint: fcm.url }, { serviceAccount: fcm.serviceAccount }, ctx);
 * fcm.failNext(fcmError(404, 'NOT_FOUND', 'UNREGISTERED', 'Requested entity was not found.'));
 * ```
 */

/** A scripted answer to `messages:send`. */
export interface FcmAnswer {
  status: number;
  body: unknown;
  headers?: Record<string, string>;
}

export interface FcmFake extends ConformanceFake {
  readonly url: string;
  readonly projectId: string;
  /** The service-account key file, as Google hands it out. */
  readonly serviceAccount: Record<string, string>;
  /** Requests to `messages:send` (token exchanges are counted, not listed). */
  readonly requests: FakeRequest[];
  /** Assertions exchanged for access tokens so far. */
  readonly exchanges: number;
  /** Answers the next `messages:send` requests with these, in order. */
  failNext(...answers: FcmAnswer[]): void;
  /** Answers the next token exchanges with these (an OAuth error), in order. */
  failNextExchange(...answers: FcmAnswer[]): void;
  /** Lifetime of the access tokens it issues (`expires_in`, seconds); 3599 by default. */
  setTokenLifetime(seconds: number): void;
  /** Forgets every issued access token: the next sends get 401 until a new one is exchanged. */
  revokeTokens(): void;
  close(): Promise<void>;
}

export const FCM_SCOPE = 'https://www.googleapis.com/auth/firebase.messaging';
const FCM_ERROR = 'type.googleapis.com/google.firebase.fcm.v1.FcmError';

/** An FCM v1 error answer in Google's shape, with the FcmError detail when `errorCode` is given. */
export function fcmError(
  status: number,
  canonical: string,
  errorCode: string | null,
  message: string,
  headers?: Record<string, string>,
): FcmAnswer {
  const details = errorCode ? [{ '@type': FCM_ERROR, errorCode }] : [];
  return { status, headers, body: { error: { code: status, message, status: canonical, details } } };
}

/** RSA key generation is slow on a busy machine: fakes share one key unless asked for their own. */
let sharedKeys: ReturnType<typeof rsaKeys> | undefined;
const rsaKeys = () => generateKeyPairSync('rsa', { modulusLength: 2048 });

export async function startFcmFake(options: { projectId?: string; ownKey?: boolean } = {}): Promise<FcmFake> {
  const projectId = options.projectId ?? 'tidings-test';
  if (!options.ownKey) sharedKeys ??= rsaKeys();
  const { publicKey, privateKey } = options.ownKey || !sharedKeys ? rsaKeys() : sharedKeys;
  const clientEmail = `tidings-sender@${projectId}.iam.gserviceaccount.com`;
  const requests: FakeRequest[] = [];
  const answers: FcmAnswer[] = [];
  const exchangeAnswers: FcmAnswer[] = [];
  const issued = new Set<string>();
  let exchanges = 0;
  let sent = 0;
  let lifetime = 3599;
  let url = '';

  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const body = Buffer.concat(chunks).toString('utf8');
      const reply = (answer: FcmAnswer) => {
        res.writeHead(answer.status, {
          'content-type': 'application/json; charset=UTF-8',
          ...answer.headers,
        });
        res.end(JSON.stringify(answer.body));
      };
      void (async () => {
        if (req.method === 'POST' && req.url === '/token') {
          exchanges++;
          const scripted = exchangeAnswers.shift();
          if (scripted) return reply(scripted);
          return reply(await exchange(body, publicKey, clientEmail, `${url}/token`, lifetime, issued));
        }
        const sendPath = `/v1/projects/${projectId}/messages:send`;
        if (req.method !== 'POST' || req.url !== sendPath) {
          return reply(fcmError(404, 'NOT_FOUND', null, `no route ${req.method} ${req.url}`));
        }
        requests.push({ method: req.method, path: req.url, headers: flatten(req.headers), body });
        const bearer = /^Bearer (.+)$/.exec(req.headers.authorization ?? '')?.[1];
        if (!bearer || !issued.has(bearer)) {
          return reply(
            fcmError(
              401,
              'UNAUTHENTICATED',
              null,
              'Request had invalid authentication credentials. Expected OAuth 2 access token, login cookie or other valid authentication credential.',
            ),
          );
        }
        const scripted = answers.shift();
        if (scripted) return reply(scripted);
        sent++;
        return reply({
          status: 200,
          body: { name: `projects/${projectId}/messages/0:${1_700_000_000 + sent}%fake` },
        });
      })().catch((error: unknown) => reply({ status: 500, body: { error: { message: String(error) } } }));
    });
  });

  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  url = `http://127.0.0.1:${port}`;

  return {
    url,
    projectId,
    serviceAccount: {
      type: 'service_account',
      project_id: projectId,
      private_key_id: 'fake-key-1',
      private_key: privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
      client_email: clientEmail,
      client_id: '100000000000000000001',
      auth_uri: 'https://accounts.google.com/o/oauth2/auth',
      token_uri: `${url}/token`,
    },
    requests,
    get exchanges() {
      return exchanges;
    },
    failNext: (...more) => void answers.push(...more),
    failNextExchange: (...more) => void exchangeAnswers.push(...more),
    setTokenLifetime(seconds) {
      lifetime = seconds;
    },
    revokeTokens: () => issued.clear(),
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

/** The token endpoint: a valid assertion gets a fresh access token, anything else Google's OAuth error. */
async function exchange(
  body: string,
  publicKey: KeyObject,
  clientEmail: string,
  tokenUri: string,
  lifetime: number,
  issued: Set<string>,
): Promise<FcmAnswer> {
  const form = new URLSearchParams(body);
  const refuse = (description: string): FcmAnswer => ({
    status: 400,
    body: { error: 'invalid_grant', error_description: description },
  });
  if (form.get('grant_type') !== 'urn:ietf:params:oauth:grant-type:jwt-bearer') {
    return {
      status: 400,
      body: { error: 'unsupported_grant_type', error_description: 'Invalid grant_type' },
    };
  }
  try {
    const { payload, protectedHeader } = await jwtVerify(form.get('assertion') ?? '', publicKey, {
      algorithms: ['RS256'],
      issuer: clientEmail,
      subject: clientEmail,
      audience: tokenUri,
    });
    if (protectedHeader.typ !== 'JWT') return refuse('Invalid JWT header.');
    if (payload.scope !== FCM_SCOPE) return refuse('Invalid OAuth scope or ID token audience provided.');
    if (
      typeof payload.iat !== 'number' ||
      typeof payload.exp !== 'number' ||
      payload.exp - payload.iat > 3600
    ) {
      return refuse(
        'Invalid JWT: Token must be a short-lived token (60 minutes) and in a reasonable timeframe.',
      );
    }
  } catch {
    return refuse('Invalid JWT Signature.');
  }
  const token = `ya29.fake-${issued.size + 1}-${Math.random().toString(36).slice(2)}`;
  issued.add(token);
  return { status: 200, body: { access_token: token, expires_in: lifetime, token_type: 'Bearer' } };
}

function flatten(headers: IncomingHttpHeaders): Record<string, string> {
  const flat: Record<string, string> = {};
  for (const [name, value] of Object.entries(headers)) {
    if (value !== undefined) flat[name] = Array.isArray(value) ? value.join(', ') : value;
  }
  return flat;
}
