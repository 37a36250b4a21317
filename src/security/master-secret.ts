import { randomBytes } from 'node:crypto';
import { closeSync, fsyncSync, linkSync, openSync, readFileSync, unlinkSync, writeSync } from 'node:fs';
import path from 'node:path';
import { type Config, ConfigError } from '../config/index.ts';
import type { Store } from '../store/port.ts';
import type { Logger } from '../telemetry/logger.ts';
import { makePrivateDir, PRIVATE_FILE_MODE, restrictExistingFiles } from './file-modes.ts';
import { ensureDataKey } from './personal-data-key.ts';
import { inspectSealedValues, resealValues } from './sealed-values.ts';
import { deriveKeys, MASTER_SECRET_SETTING, randomSecret } from './secrets.ts';

/** The file under the data directory that keeps a generated master secret (SQLite without TIDINGS_SECRET). */
export const SECRET_FILE_NAME = 'master-secret';

/** The master secret this process uses, and the earlier ones whose sealed values it still opens. */
export interface MasterSecrets {
  current: string;
  previous: readonly string[];
  /** The personal data key (base64), opened from the settings (src/security/personal-data-key.ts). */
  personalDataKey: string;
}

export function secretFilePath(config: Config): string {
  return path.join(config.dataDir, SECRET_FILE_NAME);
}

const POSTGRES_NEEDS_SECRET =
  'TIDINGS_SECRET is required on PostgreSQL: give every process that shares the database the same ' +
  'one (openssl rand -hex 32). An installation that ran without it keeps its generated secret in the ' +
  'database; the first start with TIDINGS_SECRET re-seals what that secret sealed and removes it.';

/** Where this start's secret comes from: it decides what an error asks the operator to fix. */
type Origin = { kind: 'env' } | { kind: 'file'; file: string } | { kind: 'new'; file: string | null };

function readSecretFile(file: string): string | null {
  let text: string;
  try {
    text = readFileSync(file, 'utf8').trim();
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw error;
  }
  if (text === '')
    throw new ConfigError(`${file} is empty: restore the master secret it held, or set TIDINGS_SECRET.`);
  restrictExistingFiles([file]);
  return text;
}

/**
 * Writes the secret file whole or not at all (a temporary file, fsynced, then hard-linked into
 * place); answers false if another process wrote one first.
 */
function writeSecretFile(file: string, secret: string): boolean {
  makePrivateDir(path.dirname(file));
  const temp = `${file}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`;
  const fd = openSync(temp, 'wx', PRIVATE_FILE_MODE);
  try {
    writeSync(fd, `${secret}\n`);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  try {
    linkSync(temp, file);
    return true;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw error;
  } finally {
    unlinkSync(temp);
  }
}

function chooseSecret(config: Config, legacy: string | null): { secret: string; origin: Origin } {
  if (config.secret !== null) return { secret: config.secret, origin: { kind: 'env' } };
  if (config.database.kind === 'postgres') throw new ConfigError(POSTGRES_NEEDS_SECRET);
  // An in-memory database ends with the process: so may its secret.
  if (config.database.file === ':memory:')
    return { secret: randomSecret(32), origin: { kind: 'new', file: null } };
  const file = secretFilePath(config);
  const saved = readSecretFile(file);
  if (saved !== null) return { secret: saved, origin: { kind: 'file', file } };
  // An installation from before the secret file: its secret moves out of the database.
  return { secret: legacy ?? randomSecret(32), origin: { kind: 'new', file } };
}

function mismatch(origin: Origin, unopened: readonly string[]): ConfigError {
  const shown =
    unopened.slice(0, 5).join(', ') + (unopened.length > 5 ? `, … (${unopened.length} in all)` : '');
  const which =
    origin.kind === 'env'
      ? 'TIDINGS_SECRET'
      : origin.kind === 'file'
        ? `the master secret in ${origin.file} (used while TIDINGS_SECRET is unset)`
        : `a new master secret (${origin.file ?? 'the secret file'} is missing)`;
  return new ConfigError(
    `${which} cannot open values sealed under another secret (${shown}). Start with the TIDINGS_SECRET ` +
      'they were sealed under, or keep the new TIDINGS_SECRET and set TIDINGS_SECRET_PREVIOUS to the old ' +
      'one: they are then re-sealed under the new secret at start.',
  );
}

/**
 * Settles the master secret before anything uses it: TIDINGS_SECRET, else (SQLite) the secret
 * file, generated on first start — never the database, from which an earlier version's secret is
 * moved out. Every sealed value must open under it or under TIDINGS_SECRET_PREVIOUS (values under
 * the previous one are re-sealed); otherwise start-up stops with a ConfigError naming TIDINGS_SECRET.
 * Nothing is written (no secret file, no re-sealed value) unless every value opens.
 */
export async function prepareMasterSecret(
  store: Store,
  config: Config,
  logger: Logger,
): Promise<MasterSecrets> {
  for (;;) {
    const legacy = await store.getSetting(MASTER_SECRET_SETTING);
    const { secret, origin } = chooseSecret(config, legacy);
    const previous = [...new Set([config.secretPrevious, legacy])].filter(
      (s): s is string => s !== null && s !== secret,
    );
    const keyring = deriveKeys(secret, previous).credentialKeyring;
    const report = await inspectSealedValues(store, keyring);
    if (report.unopened.length > 0) throw mismatch(origin, report.unopened);
    // Another process of this installation generated the file first: use that one instead.
    if (origin.kind === 'new' && origin.file !== null && !writeSecretFile(origin.file, secret)) continue;
    const { resealed, checkHolds } = await resealValues(store, keyring, report);
    if (!checkHolds) throw mismatch(origin, ['the secret check another process stored just now']);
    if (resealed > 0)
      logger.info({ resealed }, 'integration credentials re-sealed under the current master secret');
    if (legacy !== null) {
      await store.replaceSetting(MASTER_SECRET_SETTING, legacy, null);
      logger.info('the master secret kept in the database by an earlier version was moved out of it');
    }
    const dataKey = await ensureDataKey(store, keyring);
    return { current: secret, previous, personalDataKey: dataKey.key.toString('base64') };
  }
}

/**
 * The master secret a start would use and the earlier ones it would try, read without writing
 * anything (`tidings doctor`): null on SQLite when none exists yet (no TIDINGS_SECRET, no secret
 * file, none left in the database by an earlier version) — the first start generates it.
 * Throws a ConfigError where a start would (PostgreSQL without TIDINGS_SECRET, an empty file).
 */
export async function findMasterSecret(
  store: Pick<Store, 'getSetting'>,
  config: Config,
): Promise<{ secret: string; previous: string[]; source: string } | null> {
  const legacy = await store.getSetting(MASTER_SECRET_SETTING);
  if (config.secret === null && config.database.kind === 'sqlite' && config.database.file !== ':memory:') {
    const file = secretFilePath(config);
    if (legacy === null && readSecretFile(file) === null) return null;
  }
  const { secret, origin } = chooseSecret(config, legacy);
  const previous = [...new Set([config.secretPrevious, legacy])].filter(
    (s): s is string => s !== null && s !== secret,
  );
  const source =
    origin.kind === 'env' ? 'TIDINGS_SECRET' : origin.kind === 'file' ? origin.file : 'the database (legacy)';
  return { secret, previous, source };
}
