import { statfsSync } from 'node:fs';
import path from 'node:path';
import type { Config } from '../config/index.ts';
import { ProviderRegistry } from '../providers/registry.ts';
import { findMasterSecret } from '../security/master-secret.ts';
import { inspectSealedValues, SECRET_CHECK_SETTING } from '../security/sealed-values.ts';
import { deriveKeys } from '../security/secrets.ts';
import { iso } from '../shared/time.ts';
import type { DatabaseInspection } from '../store/inspection.ts';
import type { Store } from '../store/port.ts';
import { inspectPostgres } from '../store/postgres/inspect.ts';
import { inspectSqlite } from '../store/sqlite/inspect.ts';
import { openStore } from './open-store.ts';
import { paintFor, printable } from './terminal.ts';

/**
 * Free space below which the embedded store's disk is called low: a full disk stops every write
 * (503 until space is freed), and a broadcast to a million recipients writes a gigabyte or two.
 */
export const LOW_DISK_BYTES = 1024 ** 3;

/** How far the database server's clock may be from this machine's before doctor calls it wrong. */
export const CLOCK_TOLERANCE_MS = 2_000;
const TENANT_PAGE = 500;
const NO_INTEGRATIONS: Line = {
  ok: true,
  text: 'integrations: none configured (every channel goes to the sandbox)',
};

/** One line of the report. */
interface Line {
  ok: boolean;
  text: string;
}

/** A PostgreSQL URL without its password, for printing. */
export function describeDatabase(config: Config): string {
  if (config.database.kind === 'sqlite') return `SQLite ${config.database.file}`;
  try {
    const url = new URL(config.database.url);
    if (url.password) url.password = '***';
    return `PostgreSQL ${url.toString()}`;
  } catch {
    return 'PostgreSQL';
  }
}

async function inspect(config: Config): Promise<DatabaseInspection> {
  if (config.database.kind === 'postgres') return inspectPostgres(config.database.url);
  return inspectSqlite(config.database.file);
}

function clockLine(inspection: DatabaseInspection): Line {
  const clock = inspection.serverClock;
  if (clock) {
    // Half the round trip is the most the reading can be off by itself.
    const skew = clock.localNow - clock.serverNow;
    const ok = Math.abs(skew) <= CLOCK_TOLERANCE_MS + clock.roundTripMs / 2;
    const how = `${Math.abs(Math.round(skew))} ms ${skew >= 0 ? 'ahead of' : 'behind'} the database server's`;
    return {
      ok,
      text: ok
        ? `clock: ${how}`
        : `clock: ${how} (more than ${CLOCK_TOLERANCE_MS} ms): leases, schedules and retries use both clocks; sync this machine (NTP)`,
    };
  }
  // SQLite has no server clock: the newest time this installation wrote is the bound we know of.
  const now = Date.now();
  if (inspection.lastAppliedAt !== null && now < inspection.lastAppliedAt)
    return {
      ok: false,
      text: `clock: ${iso(now)} is before the last migration (${iso(inspection.lastAppliedAt)}): this machine's clock went back`,
    };
  return {
    ok: true,
    text:
      inspection.lastAppliedAt === null
        ? `clock: ${iso(now)}`
        : `clock: ${iso(now)}, after the last migration (${iso(inspection.lastAppliedAt)})`,
  };
}

function bytes(n: number): string {
  const gib = n / 1024 ** 3;
  return gib >= 1 ? `${gib.toFixed(1)} GiB` : `${Math.floor(n / 1024 ** 2)} MiB`;
}

/** SQLite: the free space of the file system the database (and its log) lives on. */
function diskLine(file: string): Line {
  const directory = path.dirname(path.resolve(file));
  let free: number;
  try {
    const fs = statfsSync(directory);
    // What an unprivileged process may use: blocks reserved for root are not ours.
    free = fs.bavail * fs.bsize;
  } catch (error) {
    return {
      ok: false,
      text: `disk: cannot read the free space of ${directory}: ${(error as Error).message}`,
    };
  }
  const where = `free where the database lives (${directory})`;
  return free >= LOW_DISK_BYTES
    ? { ok: true, text: `disk: ${bytes(free)} ${where}` }
    : {
        ok: false,
        text: `disk: ${bytes(free)} ${where}, under ${bytes(LOW_DISK_BYTES)}: a full disk stops every write (the API answers 503) until space is freed`,
      };
}

/** The secret and integration lines: what a start would find opening the store's sealed values. */
async function secretAndIntegrations(store: Store, config: Config): Promise<Line[]> {
  let found: Awaited<ReturnType<typeof findMasterSecret>>;
  try {
    found = await findMasterSecret(store, config);
  } catch (error) {
    return [{ ok: false, text: `secret: ${(error as Error).message}` }];
  }
  const integrations = await allIntegrations(store);
  if (found === null) {
    // Nothing sealed yet is fine: the first start generates the secret and seals under it.
    const sealed =
      (await store.getSetting(SECRET_CHECK_SETTING)) !== null ||
      (await store.listSealedCredentials()).length > 0;
    return [
      sealed
        ? {
            ok: false,
            text: 'secret: values are sealed in the store but no master secret was found: set TIDINGS_SECRET, or restore the secret file in the data directory',
          }
        : { ok: true, text: 'secret: none yet, nothing sealed yet (the first start generates one)' },
      ...(integrations.length === 0 ? [NO_INTEGRATIONS] : []),
      ...integrations.map((i) => ({
        ok: false,
        text: `integration ${i.tenantId}/${i.id} (${i.channel}, ${i.provider}): not checked, no secret`,
      })),
    ];
  }
  const keys = deriveKeys(found.secret, found.previous);
  const report = await inspectSealedValues(store, keys.credentialKeyring);
  const lines: Line[] = [];
  if (report.unopened.length > 0) {
    lines.push({
      ok: false,
      text: `secret: the secret from ${found.source} does not open ${report.unopened.join(', ')}`,
    });
  } else {
    const resealing =
      report.reseal.length > 0 ? `; the next start re-seals ${report.reseal.length} value(s)` : '';
    lines.push({ ok: true, text: `secret: from ${found.source}, opens the stored values${resealing}` });
  }
  const registry = new ProviderRegistry(
    store,
    keys.credentialKeyring,
    config.allowPrivateTargets,
    config.publicUrl,
    config.circuitCoolDownMs,
  );
  try {
    if (integrations.length === 0) lines.push(NO_INTEGRATIONS);
    for (const integration of integrations) {
      const problem = await registry.checkIntegration(integration);
      const name = `integration ${integration.tenantId}/${integration.id} (${integration.channel}, ${integration.provider}${integration.enabled ? '' : ', disabled'})`;
      lines.push(
        problem === null
          ? { ok: true, text: `${name}: client builds` }
          : { ok: false, text: `${name}: ${problem}` },
      );
    }
  } finally {
    await registry.close();
  }
  return lines;
}

async function allIntegrations(store: Store) {
  const all = [];
  for (let after: string | null = null; ; ) {
    const tenants = await store.listTenants(after, TENANT_PAGE);
    for (const tenant of tenants) all.push(...(await store.listIntegrations(tenant.id)));
    if (tenants.length < TENANT_PAGE) return all;
    after = tenants.at(-1)!.id;
  }
}

/**
 * `tidings doctor`: checks an installation the way a start would meet it, changing nothing — no
 * migration applied, no secret generated, nothing sent. Prints one ✓/✗ line per check; answers
 * the exit code (1 when any check failed).
 */
export async function doctor(config: Config, out: NodeJS.WriteStream = process.stdout): Promise<number> {
  const paint = paintFor(out);
  let failed = false;
  const print = (line: Line) => {
    if (!line.ok) failed = true;
    out.write(`${line.ok ? paint.green('✓') : paint.red('✗')} ${printable(line.text)}\n`);
  };
  print({ ok: true, text: `configuration: ${describeDatabase(config)}, data directory ${config.dataDir}` });
  if (config.database.kind === 'sqlite' && config.database.file === ':memory:') {
    print({
      ok: true,
      text: 'store: in memory (it lives and dies with a running process: nothing to check)',
    });
    return 0;
  }
  let inspection: DatabaseInspection;
  try {
    inspection = await inspect(config);
  } catch (error) {
    print({ ok: false, text: `store: not reachable: ${(error as Error).message}` });
    return 1;
  }
  print({ ok: true, text: 'store: reachable' });
  if (config.database.kind === 'sqlite') print(diskLine(config.database.file));
  if (inspection.pending.length > 0) {
    const names = inspection.pending.slice(0, 5).join(', ') + (inspection.pending.length > 5 ? ', …' : '');
    print({
      ok: false,
      text: `migrations: ${inspection.pending.length} pending (${names}): run tidings migrate (a start applies them too)`,
    });
  } else {
    print({ ok: true, text: `migrations: all ${inspection.applied} applied` });
    // Every migration is in, so opening the store (which migrates) changes nothing.
    const store = await openStore(config);
    try {
      for (const line of await secretAndIntegrations(store, config)) print(line);
    } finally {
      await store.close();
    }
  }
  print(clockLine(inspection));
  return failed ? 1 : 0;
}
