import { newId } from '../shared/ids.ts';
import type { MessageStore } from '../store/port.ts';
import { checkedEnvelope } from './email/content.ts';
import { emailMessageId } from './email/sender.ts';
import type { ChannelProvider, MessageMeta, OutboundMessage } from './port.ts';
import { collapseIdProblem } from './push/template-rules.ts';
import { countSegments } from './sms/segments.ts';

function addressFor(message: OutboundMessage): string | null {
  // Push and web push go to one device: the capture names it, never its token.
  if (message.device) return message.device.id;
  switch (message.channel) {
    case 'email':
      return message.subscriber.email;
    case 'sms':
      return message.subscriber.phone;
    default:
      return message.subscriber.id;
  }
}

/** The meta a real provider of the channel would add (API.md), where it does not depend on one. */
function channelMeta(message: OutboundMessage): MessageMeta | null {
  switch (message.channel) {
    case 'email':
      // The Message-ID an SMTP send would set (no sender: the reserved .invalid domain).
      return { messageIdHeader: emailMessageId(message.messageId, '') };
    case 'sms': {
      // The segments the body would cost, as Twilio reports them.
      const { segments, encoding } = countSegments(message.content.body ?? message.content.text ?? '');
      return { segments, encoding };
    }
    case 'push':
    case 'webpush': {
      // APNs, FCM and web push each report the template's collapse id once they take the push.
      const collapseId = message.content.collapseId;
      return collapseId !== undefined && collapseId.trim() !== '' ? { collapseId } : null;
    }
    default:
      return null;
  }
}

/** Why every real provider of the channel would refuse the message as it is, or null. */
function refusedByProviders(message: OutboundMessage): string | null {
  if (message.channel === 'push') {
    const { collapseId } = message.content;
    return collapseId === undefined ? null : collapseIdProblem(collapseId);
  }
  if (message.channel !== 'email') return null;
  const checked = checkedEnvelope(message.content);
  return 'problem' in checked ? checked.problem : null;
}

/**
 * The built-in provider for every channel: it captures the message into the store instead of
 * sending it, so the embedded default works with no credentials and shows what would have gone out.
 */
export function createSandboxProvider(store: Pick<MessageStore, 'saveSandboxCapture'>): ChannelProvider {
  return {
    name: 'sandbox',
    async send(message) {
      const to = addressFor(message);
      // As a real provider would: an email or SMS needs somewhere to go.
      if (to === null || to === '') {
        const what = message.channel === 'sms' ? 'phone number' : 'email address';
        return { kind: 'bad_address', reason: `the subscriber has no ${what}` };
      }
      // A push APNs and FCM would refuse, or an email every email provider would, fails here too,
      // not first in production.
      const refused = refusedByProviders(message);
      if (refused !== null) return { kind: 'permanent', reason: refused };
      await store.saveSandboxCapture({
        id: newId('cap'),
        tenantId: message.tenantId,
        messageId: message.messageId,
        channel: message.channel,
        to,
        content: message.content,
        createdAt: Date.now(),
      });
      const meta = channelMeta(message);
      return { kind: 'accepted', detail: 'captured by the sandbox provider', ...(meta ? { meta } : {}) };
    },
  };
}
