import type { NewMessage } from './port.ts';

/**
 * A delivery write refused whole (createMessages): a message it would deliver was built on
 * choices read at a version its tenant has moved past — a change of preferences (a PATCH, an
 * unsubscribe, a STOP) that answered after the build read the recipients' choices. Nothing of the write
 * was made and none of its jobs completed (src/pipeline/deliver.ts decides what follows).
 */
export class ConsentChangedSinceRead extends Error {
  override name = 'ConsentChangedSinceRead';

  constructor(readonly tenantIds: readonly string[]) {
    super(`preferences changed since the delivery read them (tenants ${tenantIds.join(', ')})`);
  }
}

/**
 * The choices versions a write's messages were built on, by tenant (NewMessage.choicesVersion):
 * the lowest where a tenant's messages differ, so any change since the oldest read refuses.
 */
export function choicesVersionsRead(messages: readonly NewMessage[]): Map<string, number> {
  const read = new Map<string, number>();
  for (const { record, choicesVersion } of messages) {
    if (choicesVersion === undefined) continue;
    const before = read.get(record.tenantId);
    if (before === undefined || choicesVersion < before) read.set(record.tenantId, choicesVersion);
  }
  return read;
}
