import { createSign } from 'node:crypto';
import { createServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { type SnsMessage, snsStringToSign } from '../../src/feedback/sns-signature.ts';
import { selfSignedCertificate } from './certificates.ts';

/**
 * A local stand-in for Amazon SNS's https side: it serves a signing certificate (a self-signed
 * RSA certificate made with openssl, for 127.0.0.1, which also serves TLS) at a `.pem` path and
 * records GETs of subscription-confirmation links; `sign` signs messages with the certificate's
 * key as SNS does (SignatureVersion 1: SHA-1, 2: SHA-256). Tidings trusts it only through the
 * test-only TIDINGS_TEST_SNS_CERT_HOST and TIDINGS_TEST_SNS_CA.
 */
export interface SnsFake {
  /** `127.0.0.1:<port>`: TIDINGS_TEST_SNS_CERT_HOST. */
  readonly host: string;
  /** The certificate file: TIDINGS_TEST_SNS_CA. */
  readonly caFile: string;
  readonly certificatePem: string;
  readonly certUrl: string;
  /** Paths of the subscription links confirmed so far. */
  readonly confirmations: string[];
  /** How many times the certificate was fetched. */
  certificateFetches(): number;
  /** How many requests of any kind arrived (unknown paths answer 404). */
  requests(): number;
  subscribeUrl(token: string): string;
  sign(message: UnsignedSnsMessage, version?: '1' | '2', certUrl?: string): SnsMessage;
  close(): Promise<void>;
}

export type UnsignedSnsMessage = Omit<SnsMessage, 'Signature' | 'SignatureVersion' | 'SigningCertURL'>;

/** Signs an SNS message with `key` as SNS would. */
export function signSns(
  message: UnsignedSnsMessage,
  key: string,
  certUrl: string,
  version: '1' | '2' = '1',
): SnsMessage {
  const unsigned = {
    ...message,
    SignatureVersion: version,
    SigningCertURL: certUrl,
    Signature: '',
  } as SnsMessage;
  const signer = createSign(version === '1' ? 'RSA-SHA1' : 'RSA-SHA256');
  signer.update(snsStringToSign(unsigned), 'utf8');
  return { ...unsigned, Signature: signer.sign(key, 'base64') };
}

export async function startSnsFake(): Promise<SnsFake> {
  const { key, cert, certFile } = selfSignedCertificate('rsa');
  const confirmations: string[] = [];
  let fetches = 0;
  let requests = 0;
  const server = createServer({ key, cert }, (req, res) => {
    requests++;
    const url = req.url ?? '/';
    if (req.method === 'GET' && url === '/SimpleNotificationService-test.pem') {
      fetches++;
      res.writeHead(200, { 'content-type': 'application/x-pem-file' });
      res.end(cert);
      return;
    }
    if (req.method === 'GET' && url.startsWith('/?Action=ConfirmSubscription')) {
      confirmations.push(url);
      res.writeHead(200, { 'content-type': 'text/xml' });
      res.end(
        '<ConfirmSubscriptionResponse><ConfirmSubscriptionResult><SubscriptionArn>arn</SubscriptionArn></ConfirmSubscriptionResult></ConfirmSubscriptionResponse>',
      );
      return;
    }
    res.writeHead(404);
    res.end();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const host = `127.0.0.1:${(server.address() as AddressInfo).port}`;
  const certUrl = `https://${host}/SimpleNotificationService-test.pem`;
  return {
    host,
    caFile: certFile,
    certificatePem: cert,
    certUrl,
    confirmations,
    certificateFetches: () => fetches,
    requests: () => requests,
    subscribeUrl: (token) =>
      `https://${host}/?Action=ConfirmSubscription&TopicArn=arn%3Aaws%3Asns%3Aus-east-1%3A123456789012%3Ases&Token=${token}`,
    sign: (message, version = '1', url = certUrl) => signSns(message, key, url, version),
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
