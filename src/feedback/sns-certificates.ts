import { X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { type Dispatcher, request } from 'undici';
import { createGuardedDispatcher } from '../security/outbound/http.ts';
import type { TargetPolicy } from '../security/outbound/index.ts';
import { isSnsUrl } from './sns-signature.ts';

/**
 * Test-only settings (config.testSns), both unset by default and never needed in production:
 * - TIDINGS_TEST_SNS_CERT_HOST (`host:port`): also accepted as an SNS host for SigningCertURL and
 *   SubscribeURL, so a local https fake can stand in for SNS.
 * - TIDINGS_TEST_SNS_CA (a PEM file): the only certificate authority trusted for those fetches
 *   (the fake's self-signed certificate). Node's NODE_EXTRA_CA_CERTS would do too, but is read
 *   once at process start, before an in-process test can create its certificate.
 */
export interface SnsTestOptions {
  certHost: string | null;
  caFile: string | null;
}

const FETCH_TIMEOUT_MS = 10_000;
/** Signing certificates are ~2 KB; anything much larger is not one. */
const MAX_CERTIFICATE_BYTES = 64 * 1024;
/** SNS rotates its certificates rarely and under new URLs: a few dozen cover every region in use. */
const MAX_CACHED = 64;
/**
 * New certificate fetches allowed per minute. The fetch happens before the signature can be
 * checked, so anyone can ask for one: without a bound, unsigned callbacks naming ever new
 * SigningCertURLs would make this server fetch from SNS as fast as they arrive.
 */
const FETCHES_PER_MINUTE = 30;
/**
 * New certificate fetches one client address may cause per minute. SNS needs one per region
 * and certificate (then it is cached), so this never holds back SNS; it keeps one address from
 * spending the whole minute's {@link FETCHES_PER_MINUTE} and so holding back every tenant's
 * first SNS callback after a start.
 */
const FETCHES_PER_REQUESTER_PER_MINUTE = 3;
/** Addresses remembered for that; all forgotten at once beyond this. */
const REQUESTERS_REMEMBERED = 10_000;

/** A new certificate fetch refused by a limit: the caller's own (`requester`), or everyone's. */
export class SnsFetchRefused extends Error {
  constructor(
    readonly by: 'requester' | 'everyone',
    readonly limit: number,
  ) {
    super(
      by === 'requester'
        ? `more than ${limit} new SNS certificate fetches a minute from this address`
        : `more than ${limit} SNS certificate fetches in a minute`,
    );
  }
}

/**
 * The SNS side of the outside world: fetches signing certificates (cached by URL) and confirms
 * subscriptions, only on SNS hosts, through the outbound guard (the private-target rule holds
 * even for a URL that names an SNS host but resolves elsewhere).
 */
export class SnsClient {
  /** Certificates that loaded, by URL; only these are cached, so failed URLs never evict them. */
  private readonly certificates = new Map<string, X509Certificate>();
  /** Fetches in flight, by URL: concurrent callbacks naming the same one share it. */
  private readonly loading = new Map<string, Promise<X509Certificate>>();
  /** When the fetches of the last minute started. */
  private fetchedAt: number[] = [];
  /** The same, per client address. */
  private readonly fetchedFor = new Map<string, number[]>();
  private readonly dispatcher: Dispatcher;
  private readonly testHost: string | null;

  constructor(policy: TargetPolicy, test: SnsTestOptions = { certHost: null, caFile: null }) {
    this.testHost = test.certHost;
    const ca = test.caFile ? readFileSync(test.caFile, 'utf8') : undefined;
    this.dispatcher = createGuardedDispatcher(policy, {
      connectTimeoutMs: FETCH_TIMEOUT_MS,
      ...(ca ? { ca } : {}),
    });
  }

  isCertificateUrl(url: string): boolean {
    return isSnsUrl(url, 'certificate', this.testHost);
  }

  isSubscribeUrl(url: string): boolean {
    return isSnsUrl(url, 'subscribe', this.testHost);
  }

  /**
   * The certificate at an SNS SigningCertURL. A failed fetch is not cached (the next message tries
   * again); past {@link FETCHES_PER_REQUESTER_PER_MINUTE} new fetches a minute from `requester`,
   * or {@link FETCHES_PER_MINUTE} from everyone, it throws SnsFetchRefused (SNS retries), while
   * certificates already loaded keep being served.
   */
  async certificate(url: string, now = Date.now(), requester = ''): Promise<X509Certificate> {
    if (!this.isCertificateUrl(url)) throw new Error('SigningCertURL is not an SNS https URL');
    const cached = this.certificates.get(url);
    if (cached) return cached;
    const inFlight = this.loading.get(url);
    if (inFlight) return inFlight;
    const minuteAgo = now - 60_000;
    const theirs = (this.fetchedFor.get(requester) ?? []).filter((at) => at > minuteAgo);
    if (theirs.length >= FETCHES_PER_REQUESTER_PER_MINUTE)
      throw new SnsFetchRefused('requester', FETCHES_PER_REQUESTER_PER_MINUTE);
    this.fetchedAt = this.fetchedAt.filter((at) => at > minuteAgo);
    if (this.fetchedAt.length >= FETCHES_PER_MINUTE)
      throw new SnsFetchRefused('everyone', FETCHES_PER_MINUTE);
    this.fetchedAt.push(now);
    if (this.fetchedFor.size >= REQUESTERS_REMEMBERED) this.fetchedFor.clear();
    this.fetchedFor.set(requester, [...theirs, now]);
    const load = this.get(url).then((pem) => new X509Certificate(pem));
    this.loading.set(url, load);
    try {
      const certificate = await load;
      if (this.certificates.size >= MAX_CACHED)
        this.certificates.delete(this.certificates.keys().next().value!);
      this.certificates.set(url, certificate);
      return certificate;
    } finally {
      this.loading.delete(url);
    }
  }

  /** Confirms a subscription: a GET of its SubscribeURL (an SNS host only). */
  async confirm(subscribeUrl: string): Promise<void> {
    if (!this.isSubscribeUrl(subscribeUrl)) throw new Error('SubscribeURL is not an SNS https URL');
    await this.get(subscribeUrl);
  }

  async close(): Promise<void> {
    await this.dispatcher.close();
  }

  private async get(url: string): Promise<string> {
    const response = await request(url, {
      method: 'GET',
      dispatcher: this.dispatcher,
      headersTimeout: FETCH_TIMEOUT_MS,
      bodyTimeout: FETCH_TIMEOUT_MS,
    });
    const chunks: Buffer[] = [];
    let size = 0;
    for await (const chunk of response.body) {
      size += (chunk as Buffer).length;
      if (size > MAX_CERTIFICATE_BYTES) {
        response.body.destroy();
        throw new Error(`${new URL(url).host} answered more than ${MAX_CERTIFICATE_BYTES} bytes`);
      }
      chunks.push(chunk as Buffer);
    }
    if (response.statusCode !== 200)
      throw new Error(`${new URL(url).host} answered HTTP ${response.statusCode}`);
    return Buffer.concat(chunks).toString('utf8');
  }
}
