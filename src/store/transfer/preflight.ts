import type pg from 'pg';
import { PERSONAL_DATA_KEY_SETTING } from '../../security/personal-data-key.ts';
import { MASTER_SECRET_SETTING } from '../../security/secrets.ts';
import { run } from '../postgres/client.ts';
import { TransferRefused } from './errors.ts';
import { hasTenantData, readSetting, writeSetting } from './target.ts';

/**
 * Kept in the target's settings while and after a copy: a database holding tenant data is only
 * written to when this says the data is an unfinished copy of the same source. It is the
 * difference between "resume my interrupted copy" and "pour one installation into another".
 */
export const MARKER_KEY = 'copied_from_sqlite';

export interface CopyMarker {
  /** Absolute path of the SQLite file copied. */
  source: string;
  startedAt: number;
  /** Null while the copy is unfinished (interrupted copies stay that way until run again). */
  finishedAt: number | null;
}

/** What happened to the master secret: tokens and sealed integration credentials depend on it. */
export type SecretOutcome =
  /** Copied (with the settings table) to a target that had none. */
  | 'copied'
  /** The target already had the same one (a resumed copy). */
  | 'same'
  /** The target had its own, but no data yet, so nothing depended on it: the source's replaced it. */
  | 'replaced'
  /** The source kept none: it ran with TIDINGS_SECRET, which the new installation must use too. */
  | 'none';

export type Preflight =
  | { proceed: true; marker: CopyMarker; resumed: boolean; secret: SecretOutcome }
  | { proceed: false; marker: CopyMarker };

function parseMarker(raw: string | undefined): CopyMarker | null {
  if (raw === undefined) return null;
  try {
    return JSON.parse(raw) as CopyMarker;
  } catch {
    return null;
  }
}

const EMPTY_DATABASE_HINT =
  'point TIDINGS_DATABASE_URL at an empty database (createdb tidings_new) and run the command again';

/**
 * Decides whether the copy may write into the target, and if so records that it started. Refuses rather than mixing two
 * installations: a target that already holds tenant data is accepted only as the unfinished copy
 * of this same source. A target whose different master secret guards no data yet (say, a
 * PostgreSQL installation started once and never used) is not a conflict: the source's replaces it.
 */
export async function prepareTarget(
  client: pg.PoolClient,
  source: { file: string; secret: string | undefined },
  now: number,
): Promise<Preflight> {
  const marker = parseMarker(await readSetting(client, MARKER_KEY));
  const targetSecret = await readSetting(client, MASTER_SECRET_SETTING);
  const used = await hasTenantData(client);

  if (used && source.secret !== undefined && targetSecret !== undefined && targetSecret !== source.secret) {
    throw new TransferRefused(
      'the target database already holds data under a different master secret. Copying into it would ' +
        "leave either its own or the copied tenants' subscriber tokens and integration credentials " +
        `unreadable; ${EMPTY_DATABASE_HINT}`,
    );
  }
  if (marker?.finishedAt != null) return { proceed: false, marker };
  if (used && marker === null) {
    throw new TransferRefused(
      `the target database already holds a Tidings installation (it has tenants' data); ${EMPTY_DATABASE_HINT}`,
    );
  }
  if (used && marker !== null && marker.source !== source.file) {
    throw new TransferRefused(
      `the target database holds an unfinished copy of ${marker.source}, not of ${source.file}: ` +
        `finish that one (run the command again with --from sqlite:${marker.source}) or ${EMPTY_DATABASE_HINT}`,
    );
  }

  const secret: SecretOutcome =
    source.secret === undefined
      ? 'none'
      : targetSecret === undefined
        ? 'copied'
        : targetSecret === source.secret
          ? 'same'
          : 'replaced';
  const started: CopyMarker = { source: source.file, startedAt: marker?.startedAt ?? now, finishedAt: null };
  await run(client, 'BEGIN');
  try {
    // The source's secret arrives with the settings table, copied first, before any data that
    // depends on it; an unused secret of the target's own makes room for it.
    if (secret === 'replaced')
      await run(client, 'DELETE FROM settings WHERE key = $1', [MASTER_SECRET_SETTING]);
    // Likewise the personal data key: the copied rows are sealed under the source's, which the
    // settings copy brings; one the target made for itself seals nothing yet.
    if (!used) await run(client, 'DELETE FROM settings WHERE key = $1', [PERSONAL_DATA_KEY_SETTING]);
    await writeSetting(client, MARKER_KEY, JSON.stringify(started));
    await run(client, 'COMMIT');
  } catch (error) {
    await run(client, 'ROLLBACK').catch(() => undefined);
    throw error;
  }
  return { proceed: true, marker: started, resumed: marker !== null, secret };
}

/** Marks the copy complete: running the command again then finds nothing to do. */
export async function finishCopy(
  client: pg.PoolClient,
  marker: CopyMarker,
  now: number,
): Promise<CopyMarker> {
  const finished = { ...marker, finishedAt: now };
  await writeSetting(client, MARKER_KEY, JSON.stringify(finished));
  return finished;
}
