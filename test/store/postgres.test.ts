import { describe } from 'vitest';
import { openPostgresStore } from '../../src/store/postgres/index.ts';
import { freshDatabaseUrl, postgresAvailable } from '../helpers/postgres.ts';
import { runStoreContract } from './contract.ts';

describe.runIf(postgresAvailable)('postgres', () => {
  runStoreContract('postgres', async () => openPostgresStore({ url: await freshDatabaseUrl() }));
});
