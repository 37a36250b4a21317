import { isDeepStrictEqual } from 'node:util';
import type { WorkflowDefinition } from '../shared/model.ts';
import type { Store } from '../store/port.ts';

/**
 * The kill switch must always work. A workflow stored before an input rule it breaks (a name,
 * category, locale key or template a newer rule refuses: a row from an older version) could not
 * be paused, since the emergency `PUT` of its own body with `"paused": true` was refused for values
 * it did not change. A PUT that sends the current definition back with nothing but `paused`
 * changed (or the same) is saved as that definition: it brings in nothing the store does not
 * already hold. Any other change is held to every rule.
 *
 * Answers the definition to save, or null when `body` changes more than `paused`. Called only for
 * a PUT the rules refused, so a valid PUT costs no read.
 */
export async function onlyPausedChanged(
  store: Pick<Store, 'getWorkflow'>,
  tenantId: string,
  key: string,
  body: unknown,
): Promise<WorkflowDefinition | null> {
  if (body === null || typeof body !== 'object' || Array.isArray(body)) return null;
  const { paused, ...sent } = body as Record<string, unknown>;
  if (paused !== undefined && typeof paused !== 'boolean') return null;
  const current = await store.getWorkflow(tenantId, key);
  if (!current) return null;
  const { paused: _was, ...stored } = current.definition as unknown as Record<string, unknown>;
  // Key order aside (PostgreSQL's jsonb keeps none), the very values stored.
  if (!isDeepStrictEqual(sent, stored)) return null;
  return (paused === undefined ? stored : { ...stored, paused }) as unknown as WorkflowDefinition;
}
