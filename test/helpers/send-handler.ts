import { InboxFeed } from '../../src/inbox/feed.ts';
import { sendHandler } from '../../src/pipeline/send.ts';
import { ProviderRegistry } from '../../src/providers/registry.ts';
import type { JobResult } from '../../src/queue/handler.ts';
import { JobSignal } from '../../src/queue/signal.ts';
import type { Job, Store } from '../../src/store/port.ts';
import { TemplateCache } from '../../src/templates/render.ts';
import type { TestServer } from './server.ts';

/** A send job as a worker holds it after its claim: the default tenant's, first attempt of 8. */
function claimedSendJob(messageId: string, id: number, overrides: Partial<Job> = {}): Job {
  return {
    id,
    tenantId: 'default',
    kind: 'send',
    lane: 'normal',
    partitionKey: null,
    payload: { messageId },
    attempts: 1,
    maxAttempts: 8,
    runAt: Date.now(),
    createdAt: Date.now(),
    ...overrides,
  };
}

/**
 * Runs the send handler once, as a worker would, over these messages (of the server's tenant,
 * queued without send jobs of their own), with the server's keys; `store` may wrap the server's.
 */
export async function runSends(
  server: TestServer,
  messageIds: readonly string[],
  options: { store?: Store; allowPrivateTargets?: string; job?: Partial<Job> } = {},
): Promise<JobResult[]> {
  const providers = new ProviderRegistry(
    server.tidings.store,
    server.tidings.keys.credentialKeyring,
    options.allowPrivateTargets ?? null,
  );
  const handler = sendHandler({
    store: options.store ?? server.tidings.store,
    providers,
    signal: new JobSignal(),
    templates: new TemplateCache(),
    inboxFeed: new InboxFeed(),
  });
  try {
    return await handler.run(
      messageIds.map((messageId, i) => claimedSendJob(messageId, -1 - i, options.job)),
      { owner: 'test' },
    );
  } finally {
    await providers.close();
  }
}
