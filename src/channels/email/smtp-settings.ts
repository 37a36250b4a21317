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

/**
 * A DKIM key given without `config.dkim` would be sealed and stored but never sign anything (the
 * transport signs only when `dkim` names the domain and selector): the email goes out unsigned
 * while the integration looks set up for DKIM. Checked on the credentials a `PUT` gives.
 */
export function checkDkimKeyUsed(credentials: Fields, config: Fields): void {
  if (credentials.dkimPrivateKey !== undefined && config.dkim === undefined) {
    throw new ProviderConfigError(
      'credentials.dkimPrivateKey',
      'is used only with config.dkim (domainName and keySelector): set config.dkim to sign, or leave the key out',
    );
  }
}

/**
 * `insecure` only allows AUTH without TLS. With `secure` (TLS from the first byte) or without a
 * `user` to log in with it changes nothing, and one set to mean "no TLS" would be silently unused
 * (a relay offering STARTTLS is still upgraded). Checked when the PUT gives credentials or changes
 * `insecure` or `secure`: an integration stored before the check keeps the config it has.
 */
export function checkInsecureUsed(
  config: Fields,
  stored: Fields | null,
  credentials: { given: Fields | undefined; used: Fields },
): void {
  if (config.insecure !== true) return;
  const unchanged = stored?.insecure === true && stored.secure === config.secure;
  if (unchanged && credentials.given === undefined) return;
  if (config.secure === true) {
    throw new ProviderConfigError(
      'config.insecure',
      'does nothing with config.secure (TLS from the first byte): leave it out',
    );
  }
  if (!credentials.used.user) {
    throw new ProviderConfigError(
      'config.insecure',
      'only allows a login without TLS, and there is no credentials.user to log in with: leave it out',
    );
  }
}
