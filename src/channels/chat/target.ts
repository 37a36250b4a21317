import { baseUrl } from '../http.ts';
import { ProviderConfigError } from '../port.ts';

/** Non-secret-looking but secret chat settings (Slack and Discord incoming webhooks). */
export interface ChatWebhookConfig {
  /**
   * The incoming-webhook URL (http or https: API.md sets no scheme rule, and a relay or test server
   * on a private network may speak plain HTTP). Whoever knows it can post to the channel, so it is stored
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

/** Checks the webhook URL (http(s), a path, no user info or fragment) and applies `endpoint`. */
export function chatTarget(config: ChatWebhookConfig): ChatTarget {
  const url = URL.canParse(config.webhookUrl ?? '') ? new URL(config.webhookUrl) : null;
  const http = url?.protocol === 'https:' || url?.protocol === 'http:';
  if (!url || !http || url.username || url.password || url.hash || url.pathname === '/') {
    throw new ProviderConfigError(
      'config.webhookUrl',
      'must be the incoming-webhook URL the chat service gave: http(s), with its path (https://…/…), no user name or fragment',
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
