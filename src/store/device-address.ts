import { createHash } from 'node:crypto';
import type { DevicePlatform, WebPushSubscription } from '../shared/model.ts';

/**
 * The key one device is known by within a tenant: a SHA-256 of its platform and where pushes to
 * it go (the APNs or FCM token, or the web push endpoint). Both stores index it, so the same
 * token PUT under another subscriber finds the device it replaces, and tokens of up to 4 KiB
 * never go into an index themselves.
 */
export function deviceAddressHash(device: {
  platform: DevicePlatform;
  token: string;
  subscription: WebPushSubscription | null;
}): string {
  const address = device.platform === 'webpush' ? (device.subscription?.endpoint ?? '') : device.token;
  return createHash('sha256').update(device.platform).update('\u0000').update(address).digest('hex');
}
