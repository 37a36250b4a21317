import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';

export interface SelfSignedCertificate {
  key: string;
  cert: string;
  /** The certificate's file, for a CA setting (TIDINGS_TEST_SNS_CA, NODE_EXTRA_CA_CERTS). */
  certFile: string;
  /** The temporary folder holding both files: the caller removes it. */
  dir: string;
}

/**
 * A throwaway certificate for 127.0.0.1 and localhost, made with openssl (Node cannot issue
 * X.509): a P-256 key by default, or RSA where the key also signs what RSA must (SNS messages).
 */
export function selfSignedCertificate(keyType: 'ec' | 'rsa' = 'ec'): SelfSignedCertificate {
  const dir = mkdtempSync(path.join(tmpdir(), 'tidings-fake-tls-'));
  const keyFile = path.join(dir, 'key.pem');
  const certFile = path.join(dir, 'cert.pem');
  const newKey = keyType === 'ec' ? ['ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1'] : ['rsa:2048'];
  execFileSync(
    'openssl',
    [
      'req',
      '-x509',
      '-newkey',
      ...newKey,
      '-nodes',
      '-keyout',
      keyFile,
      '-out',
      certFile,
      '-days',
      '1',
      '-subj',
      '/CN=127.0.0.1',
      '-addext',
      'subjectAltName=IP:127.0.0.1,DNS:localhost',
    ],
    { stdio: 'ignore' },
  );
  return { key: readFileSync(keyFile, 'utf8'), cert: readFileSync(certFile, 'utf8'), certFile, dir };
}
