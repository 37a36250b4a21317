import { htmlToText } from '../channels/email/content.ts';
import { publicLink } from '../security/signed-link.ts';
import { openPixelUrl, signClickToken, signOpenToken, trackedClickUrl } from '../security/tracking-token.ts';
import type { MessageRecord, WorkflowRecord } from '../shared/model.ts';
import { trackHtml } from '../templates/tracked-html.ts';
import type { LinkKeys } from './links.ts';

/**
 * The content an email goes out with when its workflow asks for open or click tracking
 * (`"tracking": {"opens", "clicks"}`, docs/tracking.md): the HTML part gets the signed pixel
 * and/or its http(s) links rewritten through Tidings; the text part stays as the template made it
 * (generated from the HTML *before* tracking when the template has none, so it never shows
 * tracking URLs). Done at send time, by the current workflow: the stored content and previews
 * stay untracked, turning tracking off stops it for every send after the `PUT`, and the adapters
 * (and DKIM, which signs what the adapter sends) see the final HTML.
 */
export function trackedEmailContent(
  links: LinkKeys | undefined,
  workflow: WorkflowRecord,
  message: MessageRecord,
): Record<string, string> {
  const { content } = message;
  const tracking = workflow.definition.tracking;
  if (!links || message.channel !== 'email' || content.html === undefined) return content;
  if (!tracking?.opens && !tracking?.clicks) return content;
  const claims = { tenantId: message.tenantId, messageId: message.id };
  // Links to Tidings itself (unsubscribe, preference page) keep working as they are: a click on
  // "unsubscribe" is no engagement, and a one-click link must stay the one in the header.
  const own = publicLink(links.publicUrl, '/v1/');
  const html = trackHtml(content.html, {
    click: tracking.clicks
      ? (target) =>
          target.startsWith(own)
            ? null
            : trackedClickUrl(links.publicUrl, signClickToken(links.trackingKey, claims, target), target)
      : undefined,
    pixel: tracking.opens
      ? openPixelUrl(links.publicUrl, signOpenToken(links.trackingKey, claims))
      : undefined,
  });
  return { ...content, text: content.text ?? htmlToText(content.html), html };
}
