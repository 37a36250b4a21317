import type { CircuitState } from '../../shared/model.ts';
import type { CircuitRecord, CircuitStore } from '../port.ts';
import { type Queryable, run } from './client.ts';

type CircuitRow = {
  tenant_id: string;
  integration_id: string;
  state: CircuitState;
  failures: number;
  opened_at: string | number | null;
  updated_at: string | number;
};

function toCircuit(row: CircuitRow): CircuitRecord {
  return {
    tenantId: row.tenant_id,
    integrationId: row.integration_id,
    state: row.state,
    failures: row.failures,
    openedAt: row.opened_at === null ? null : Number(row.opened_at),
    updatedAt: Number(row.updated_at),
  };
}

export function postgresCircuitStore(db: Queryable): CircuitStore {
  return {
    async putCircuit(record) {
      // A transition that arrives after a newer one (another process's) is dropped.
      await run(
        db,
        `INSERT INTO integration_circuits (tenant_id, integration_id, state, failures, opened_at, updated_at)
         VALUES ($1, $2, $3, $4, $5, $6)
         ON CONFLICT (tenant_id, integration_id) DO UPDATE SET state = excluded.state,
           failures = excluded.failures, opened_at = excluded.opened_at, updated_at = excluded.updated_at
         WHERE integration_circuits.updated_at <= excluded.updated_at`,
        [
          record.tenantId,
          record.integrationId,
          record.state,
          record.failures,
          record.openedAt,
          record.updatedAt,
        ],
      );
    },
    async listCircuits(tenantId) {
      const { rows } =
        tenantId === null
          ? await run<CircuitRow>(db, 'SELECT * FROM integration_circuits ORDER BY tenant_id, integration_id')
          : await run<CircuitRow>(
              db,
              'SELECT * FROM integration_circuits WHERE tenant_id = $1 ORDER BY integration_id',
              [tenantId],
            );
      return rows.map(toCircuit);
    },
  };
}
