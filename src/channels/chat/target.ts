import { baseUrl } from '../http.ts';
import { ProviderConfigError } from '../port.ts';

/** Non-secret-looking but secret chat settings (Slack and Discord incoming webhooks). */
export interface ChatWebhookConfig {
  /**
   * The incoming-webhook URL (https). Whoever knows it can post to the channel, so it is stored
   * sealed with the credentials and shown masked (see providers/secret-config.ts).
   */
  webhookUrl: string;
  /** Sends to this origin instead of the webhook URL's (same path): proxies, local test servers. */
  endpoint?: string;
}

/** Where a chat message goes: the origin to connect to, and the path and query to post to. */
export interface ChatTarget {
  origin: URL;
  path: string;
}

/** Checks the webhook URL (https, no user info or fragment) and applies `endpoint`. */
export function chatTarget(config: ChatWebhookConfig): ChatTarget {
  const url = URL.canParse(config.webhookUrl ?? '') ? new URL(config.webhookUrl) : null;
  if (url?.protocol !== 'https:' || url.username || url.password || url.hash || url.pathname === '/') {
    throw new ProviderConfigError(
      'config.webhookUrl',
      'must be the https incoming-webhook URL the chat service gave (https://…/…)',
    );
  }
  const origin = config.endpoint === undefined ? url : baseUrl(config.endpoint, url.origin);
  const prefix = config.endpoint === undefined ? '' : origin.pathname.replace(/\/+$/, '');
  return { origin, path: `${prefix}${url.pathname}${url.search}` };
}

/** The text a chat message carries: the template field `text`, else `body`. */
export function chatText(content: Record<string, string>): string {
  return content.text ?? content.body ?? '';
}
