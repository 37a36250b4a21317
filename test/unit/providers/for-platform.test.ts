import { describe, expect, it } from 'vitest';
import { forPlatform } from '../../../src/providers/registry.ts';

const integration = (integrationId: string, providerName: string) => ({ integrationId, providerName });

describe('forPlatform: which push integrations may try a device', () => {
  const tenant = [
    integration('fcm-main', 'fcm'),
    integration('apns-prod', 'apns'),
    integration('fcm-backup', 'fcm'),
    integration('apns-backup', 'apns'),
  ];

  it('keeps only the integrations of the device platform, in failover order', () => {
    expect(forPlatform(tenant, 'apns').map((i) => i.integrationId)).toEqual(['apns-prod', 'apns-backup']);
    expect(forPlatform(tenant, 'fcm').map((i) => i.integrationId)).toEqual(['fcm-main', 'fcm-backup']);
  });

  it('answers none when the tenant has push integrations for other platforms only', () => {
    expect(forPlatform([integration('fcm-main', 'fcm')], 'apns')).toEqual([]);
    expect(forPlatform(tenant, 'webpush')).toEqual([]);
  });

  it('lets a sandbox (the fallback, or one configured as an integration) capture any platform', () => {
    expect(forPlatform([integration('sandbox', 'sandbox')], 'apns')).toHaveLength(1);
    expect(forPlatform([integration('fcm-main', 'fcm'), integration('test', 'sandbox')], 'apns')).toEqual([
      integration('test', 'sandbox'),
    ]);
  });
});
