import pg from 'pg';

/** Runs `work` on a connection of its own to `url`, closed afterwards (tests reading behind Tidings' back). */
export async function withPostgres<T>(url: string, work: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return await work(client);
  } finally {
    await client.end();
  }
}
