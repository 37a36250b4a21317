import type { PersonalData } from '../security/personal-data.ts';
import type { DevicePlatform, WebPushSubscription } from '../shared/model.ts';

/**
 * The key one device is known by within a tenant: a keyed hash (HMAC, src/security/personal-data.ts)
 * of its platform and where pushes to it go (the APNs or FCM token, or the web push endpoint).
 * Both stores index it, so the same token PUT under another subscriber finds the device it
 * replaces, while the token itself is only ever stored sealed.
 */
export function deviceAddressHash(
  personal: PersonalData,
  device: {
    platform: DevicePlatform;
    token: string;
    subscription: WebPushSubscription | null;
  },
): string {
  const address = device.platform === 'webpush' ? (device.subscription?.endpoint ?? '') : device.token;
  return personal.hash('device', `${device.platform}\u0000${address}`);
}
