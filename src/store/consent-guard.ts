import type { NewMessage } from './port.ts';

/**
 * A delivery write refused whole (createMessages): a message it would deliver was built on
 * consent read at a version its tenant has moved past — a consent change (a PATCH of preferences,
 * most likely) that answered after the build read the recipients' choices. Nothing of the write
 * was made and none of its jobs completed (src/pipeline/deliver.ts decides what follows).
 */
export class ConsentChangedSinceRead extends Error {
  override name = 'ConsentChangedSinceRead';

  constructor(readonly tenantIds: readonly string[]) {
    super(`consent changed since the delivery read it (tenants ${tenantIds.join(', ')})`);
  }
}

/**
 * The consent versions a write's messages were built on, by tenant (NewMessage.consentVersion):
 * the lowest where a tenant's messages differ, so any change since the oldest read refuses.
 */
export function consentVersionsRead(messages: readonly NewMessage[]): Map<string, number> {
  const read = new Map<string, number>();
  for (const { record, consentVersion } of messages) {
    if (consentVersion === undefined) continue;
    const before = read.get(record.tenantId);
    if (before === undefined || consentVersion < before) read.set(record.tenantId, consentVersion);
  }
  return read;
}
