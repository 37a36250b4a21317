import { ProviderConfigError } from '../port.ts';

/**
 * SMTP settings checked when an integration is written (`PUT`, 422 naming the field), not each
 * time a send builds the transport: values nodemailer takes without complaint but that break
 * every email later. Integrations stored before these checks go on as they were.
 */

type Fields = Record<string, unknown>;

/**
 * `user` and `pass` come together. With a `user` alone nodemailer fails every send at AUTH
 * ("Missing credentials"); with a `pass` alone (or an empty `user`) it never authenticates and the
 * password is silently unused, so a relay that wants a login refuses every email.
 */
export function checkSmtpLogin(credentials: Fields): void {
  const given = (field: 'user' | 'pass') => credentials[field] !== undefined;
  for (const field of ['user', 'pass'] as const) {
    if (credentials[field] === '') throw new ProviderConfigError(`credentials.${field}`, 'must not be empty');
  }
  if (given('user') && !given('pass')) {
    throw new ProviderConfigError('credentials.pass', 'is required with credentials.user');
  }
  if (given('pass') && !given('user')) {
    throw new ProviderConfigError('credentials.user', 'is required with credentials.pass');
  }
}

// DNS labels as DKIM writes them (RFC 6376 3.5: `d=` a domain name, `s=` a selector, both
// A-labels): letters, digits, hyphens and underscores, dot-separated, at most 63 characters each.
const LABELS =
  /^[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?(?:\.[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?)*$/;

/**
 * `dkim.domainName` and `dkim.keySelector` name DNS records. Anything else (a space, a `;`, a line
 * break) is written into the DKIM-Signature header as-is, mangled, so every email carries a
 * signature no receiver can verify — which DMARC treats as no signature at all.
 */
export function checkDkimNames(dkim: unknown): void {
  if (dkim === undefined || dkim === null || typeof dkim !== 'object') return;
  const { domainName, keySelector } = dkim as Fields;
  const names = [
    ['config.dkim.domainName', domainName, 'a domain name (an internationalised one in its xn-- form)'],
    ['config.dkim.keySelector', keySelector, 'a DNS selector such as "tidings" or "s1.mail"'],
  ] as const;
  for (const [path, value, what] of names) {
    if (typeof value !== 'string' || value.length > 253 || !LABELS.test(value)) {
      throw new ProviderConfigError(path, `must be ${what}`);
    }
  }
}
