import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { DEFAULT_BREAKER } from '../../../src/providers/circuit-breaker.ts';
import { Circuits, type Permit } from '../../../src/providers/circuits.ts';
import type { CircuitRecord, Store } from '../../../src/store/port.ts';
import { openSqliteStore } from '../../../src/store/sqlite/index.ts';
import { waitFor } from '../../helpers/wait.ts';

const T0 = 1_700_000_000_000;
const settings = { ...DEFAULT_BREAKER, coolDownMs: 1_000 };

describe('Circuits: breakers shared by a worker, published on transitions only', () => {
  let store: Store;
  let writes: CircuitRecord[];
  let circuits: Circuits;

  beforeEach(() => {
    store = openSqliteStore({ file: ':memory:' });
    writes = [];
    const counting = {
      putCircuit: (record: CircuitRecord) => {
        writes.push(record);
        return store.putCircuit(record);
      },
    };
    circuits = new Circuits(counting, settings, { windowMs: 10_000, ratio: 0.2, floor: 2 });
  });
  afterEach(() => store.close());

  function call(integrationId: string, ok: boolean, now: number, isRetry = false) {
    const decision = circuits.permit('t', integrationId, isRetry, now);
    if ('refused' in decision) return decision.refused;
    circuits.record('t', integrationId, decision.permit as Permit, { ok, latencyMs: 5 }, now);
    return 'called';
  }

  const published = async () => (await store.listCircuits('t')).map((c) => [c.integrationId, c.state]);

  it('writes once when an integration is first used, then only when its state changes', async () => {
    for (let i = 0; i < 50; i++) call('healthy', true, T0 + i);
    await waitFor(async () => (await published()).length === 1, 'the first write');
    expect(writes).toHaveLength(1);
    expect(await published()).toEqual([['healthy', 'closed']]);

    for (let i = 0; i < 5; i++) expect(call('down', false, T0 + i)).toBe('called');
    // Open: passed over at once, with no call and no write.
    for (let i = 0; i < 20; i++) expect(call('down', false, T0 + 10 + i)).toBe('open');
    await waitFor(async () => (await published()).some(([id, s]) => id === 'down' && s === 'open'), 'open');
    const opened = (await store.listCircuits('t')).find((c) => c.integrationId === 'down')!;
    expect(opened).toMatchObject({ failures: 5, openedAt: T0 + 4 });
    const writesWhileOpen = writes.length;

    // After the cool-down a probe goes (half-open), and its success closes the circuit.
    expect(call('down', true, T0 + 4 + 1_000)).toBe('called');
    await waitFor(
      async () => (await published()).some(([id, s]) => id === 'down' && s === 'closed'),
      'closed',
    );
    expect(writes.length - writesWhileOpen).toBeLessThanOrEqual(2);
    expect(circuits.state('t', 'down').state).toBe('closed');
  });

  it('spends a retry budget per integration: over it, a retry is refused; first tries still go', () => {
    expect(call('x', true, T0, true)).toBe('called');
    expect(call('x', true, T0, true)).toBe('called');
    expect(call('x', true, T0, true)).toBe('retry_budget');
    expect(call('y', true, T0, true)).toBe('called');
    expect(call('x', true, T0, false)).toBe('called');
    // Five first tries add one retry (20 %).
    for (let i = 0; i < 4; i++) call('x', true, T0, false);
    expect(call('x', true, T0, true)).toBe('called');
    expect(call('x', true, T0, true)).toBe('retry_budget');
  });

  it('a changed integration starts with a closed circuit', async () => {
    for (let i = 0; i < 5; i++) call('z', false, T0);
    expect(call('z', true, T0 + 1)).toBe('open');
    circuits.reset('t', 'z', T0 + 2);
    expect(call('z', true, T0 + 3)).toBe('called');
    await waitFor(async () => (await published()).some(([id, s]) => id === 'z' && s === 'closed'), 'closed');
  });
});
