import {
  PREFERENCE_LINK_LIFETIME_MS,
  preferencePageUrl,
  signPreferenceLinkToken,
} from '../security/preference-link-token.ts';
import { signUnsubscribeToken, unsubscribeUrl } from '../security/unsubscribe-token.ts';
import { MANDATORY_CATEGORIES } from '../shared/model.ts';

/** Where links in messages point and the keys that sign them (src/cli/worker-role.ts builds it). */
export interface LinkKeys {
  publicUrl: string;
  unsubscribeKey: Buffer;
  preferencesKey: Buffer;
  /** Signs open-pixel and click-tracking links (src/pipeline/tracking.ts). */
  trackingKey: Buffer;
}

interface LinkTarget {
  tenantId: string;
  subscriberId: string;
  /** The subscriber's creation time: a link acts on nobody else of the id (a later subscriber of it). */
  subscriberCreatedAt?: number;
  workflow: string;
  category: string | undefined;
}

/**
 * The one-click unsubscribe link (RFC 8058) of a message of `target`: every category but the
 * mandatory ones (an MFA code or a password reset cannot be unsubscribed from) has one. It opts
 * out of email for the workflow's category, or of the workflow when it has none.
 */
export function unsubscribeLink(links: LinkKeys, target: LinkTarget): string | undefined {
  const { category } = target;
  if (category !== undefined && MANDATORY_CATEGORIES.has(category)) return undefined;
  const token = signUnsubscribeToken(links.unsubscribeKey, {
    tenantId: target.tenantId,
    subscriberId: target.subscriberId,
    scope: category !== undefined ? { category } : { workflow: target.workflow },
    subscriberCreatedAt: target.subscriberCreatedAt,
  });
  return unsubscribeUrl(links.publicUrl, token);
}

/** The preference page of the subscriber, opened by a signed link valid for 90 days from `now`. */
export function preferencesLink(links: LinkKeys, target: LinkTarget, now: number): string {
  const token = signPreferenceLinkToken(links.preferencesKey, {
    tenantId: target.tenantId,
    subscriberId: target.subscriberId,
    expiresAt: now + PREFERENCE_LINK_LIFETIME_MS,
    subscriberCreatedAt: target.subscriberCreatedAt,
  });
  return preferencePageUrl(links.publicUrl, token);
}

/**
 * What templates see as `links`: `{{ links.unsubscribe }}` (empty for mandatory categories) and
 * `{{ links.preferences }}`. Each is signed only when a template reads it — most never do, and the
 * render runs once per recipient and channel.
 */
export function templateLinks(links: LinkKeys | undefined, target: LinkTarget, now: number): object {
  if (!links) return {};
  let unsubscribe: string | undefined | null = null;
  let preferences: string | undefined;
  return {
    get unsubscribe() {
      if (unsubscribe === null) unsubscribe = unsubscribeLink(links, target);
      return unsubscribe ?? '';
    },
    get preferences() {
      preferences ??= preferencesLink(links, target, now);
      return preferences;
    },
  };
}
