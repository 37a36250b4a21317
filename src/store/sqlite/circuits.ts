import type Database from 'better-sqlite3';
import type { CircuitState } from '../../shared/model.ts';
import type { CircuitRecord, CircuitStore } from '../port.ts';

type CircuitRow = {
  tenant_id: string;
  integration_id: string;
  state: CircuitState;
  failures: number;
  opened_at: number | null;
  updated_at: number;
};

function toCircuit(row: CircuitRow): CircuitRecord {
  return {
    tenantId: row.tenant_id,
    integrationId: row.integration_id,
    state: row.state,
    failures: row.failures,
    openedAt: row.opened_at,
    updatedAt: row.updated_at,
  };
}

export function sqliteCircuitStore(db: Database.Database): CircuitStore {
  // A transition that arrives after a newer one (two threads, two processes) is dropped.
  const put = db.prepare(
    `INSERT INTO integration_circuits (tenant_id, integration_id, state, failures, opened_at, updated_at)
     VALUES (@tenantId, @integrationId, @state, @failures, @openedAt, @updatedAt)
     ON CONFLICT (tenant_id, integration_id) DO UPDATE SET state = excluded.state,
       failures = excluded.failures, opened_at = excluded.opened_at, updated_at = excluded.updated_at
     WHERE integration_circuits.updated_at <= excluded.updated_at`,
  );
  const listTenant = db.prepare(
    'SELECT * FROM integration_circuits WHERE tenant_id = ? ORDER BY integration_id',
  );
  const listAll = db.prepare('SELECT * FROM integration_circuits ORDER BY tenant_id, integration_id');
  return {
    async putCircuit(record) {
      put.run(record);
    },
    async listCircuits(tenantId) {
      const rows = (tenantId === null ? listAll.all() : listTenant.all(tenantId)) as CircuitRow[];
      return rows.map(toCircuit);
    },
  };
}
