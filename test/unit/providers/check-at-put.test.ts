import { describe, expect, it } from 'vitest';
import { ProviderConfigError } from '../../../src/channels/port.ts';
import { PROVIDERS } from '../../../src/providers/catalog.ts';

const smtp = { host: 'smtp.acme.test', port: 587 };
const check = (config: Record<string, unknown>, stored: Record<string, unknown> | null) => () =>
  PROVIDERS.smtp!.checkAtPut!(config, stored, { given: undefined, used: {} });

describe('SMTP config.from, checked only at PUT', () => {
  it('refuses a from that is no address on a new integration, naming config.from', () => {
    expect(check({ ...smtp, from: 'Acme <noreply>' }, null)).toThrow(ProviderConfigError);
    expect(check({ ...smtp, from: 'Acme <noreply>' }, null)).toThrow(/must be an email address/);
    expect(check({ ...smtp, from: 'Acme <noreply@acme.test>' }, null)).not.toThrow();
  });

  it('lets an integration stored with such a from be changed while it keeps it, not given a new bad one', () => {
    const stored = { ...smtp, from: 'noreply' };
    expect(check({ ...smtp, port: 465, from: 'noreply' }, stored)).not.toThrow();
    expect(check({ ...smtp, from: 'alerts' }, stored)).toThrow(ProviderConfigError);
  });
});
