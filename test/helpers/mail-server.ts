import { expect } from 'vitest';
import { LOOPBACK_TARGETS } from '../fakes/outbound.ts';
import { type FakeSmtp, startFakeSmtp } from '../fakes/smtp.ts';
import { startTestServer, type TestServer } from './server.ts';

/** A Tidings server whose tenant sends email through a fake SMTP server on loopback. */
export interface ServerWithMail {
  server: TestServer;
  smtp: FakeSmtp;
  close(): Promise<void>;
}

export interface SmtpIntegrationOptions {
  from?: string;
  /** Extra SMTP config (dkim, insecure…). */
  config?: Record<string, unknown>;
  credentials?: Record<string, unknown>;
  /** Another tenant's key; the server's own by default. */
  auth?: string;
}

/**
 * Starts the server (allowed to reach the loopback fake, plus `env`) and the fake SMTP server
 * together, and saves the `mail` email integration pointing at the fake.
 */
export async function startServerWithMail(
  options: SmtpIntegrationOptions & { env?: Record<string, string> } = {},
): Promise<ServerWithMail> {
  const [server, smtp] = await Promise.all([
    startTestServer({ TIDINGS_ALLOW_PRIVATE_TARGETS: LOOPBACK_TARGETS, ...options.env }),
    startFakeSmtp(),
  ]);
  await putSmtpIntegration(server, smtp, options);
  return {
    server,
    smtp,
    close: async () => {
      await Promise.all([server.close(), smtp.close()]);
    },
  };
}

/** `PUT /v1/integrations/mail`: SMTP through `smtp`, for the server's tenant or `auth`'s. */
export async function putSmtpIntegration(
  server: TestServer,
  smtp: FakeSmtp,
  { from = 'Acme <noreply@acme.example>', config = {}, credentials, auth }: SmtpIntegrationOptions = {},
): Promise<void> {
  const mail = await server.call(
    'PUT',
    '/v1/integrations/mail',
    {
      channel: 'email',
      provider: 'smtp',
      config: { host: smtp.host, port: smtp.port, from, ...config },
      ...(credentials ? { credentials } : {}),
    },
    auth === undefined ? {} : { auth },
  );
  expect(mail.status).toBe(200);
}
