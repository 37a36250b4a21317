import { existsSync } from 'node:fs';
import { type Config, ConfigError, loadConfig } from '../config/index.ts';
import { addTenantKey, generateApiKey } from '../security/api-keys.ts';
import { newId } from '../shared/ids.ts';
import { createLogger, type Logger } from '../telemetry/logger.ts';
import { seedDemoWorkflow } from './bootstrap.ts';
import { keyCommand, UsageError } from './key-commands.ts';
import { migrateFrom } from './migrate-from.ts';
import { openStore, type Role, startTidings, type Tidings } from './runtime.ts';

const USAGE = `usage: tidings <command>

  start                 API + workers in one process (the default)
  api                   the HTTP API only
  worker                job workers only (no HTTP port)
  migrate               apply database migrations and exit
  migrate --from sqlite:PATH
                        copy the SQLite installation at PATH into PostgreSQL (TIDINGS_DATABASE_URL)
  tenant create NAME    create a tenant and print its API key
  key create [--tenant ID] [--label LABEL]
                        add an API key to a tenant (default: the default tenant) and print it
  key list [--tenant ID]
                        list keys: ids, tenants, prefixes and labels, never the secrets
  key revoke KEY_ID     revoke a key

Configuration comes from TIDINGS_* environment variables (see docs/api.md "Running it" and the README).`;

/** A path as one shell word, for the banner's copy-paste commands. */
function shellWord(text: string): string {
  return /^[\w@%+=:,./-]+$/.test(text) ? text : `'${text.replaceAll("'", "'\\''")}'`;
}

/**
 * The start banner. A generated key is printed once, on the start that generated it; later
 * banners point at where it is kept (`$(cat <key file>)`) instead of reading it back out, so
 * the secret does not land in every start's output (and the logs that collect it).
 */
function banner(config: Config, tidings: Tidings): string {
  const url = tidings.url ?? '';
  // TIDINGS_API_KEY replaced any saved generated key, so the saved file is only right without it.
  const key =
    tidings.generatedKey ??
    (config.apiKey
      ? '$TIDINGS_API_KEY'
      : existsSync(tidings.keyFile)
        ? `$(cat ${shellWord(tidings.keyFile)})`
        : '<your key>');
  const lines = [`Tidings is running at ${url}`];
  if (tidings.generatedKey) {
    lines.push('', `Your API key (shown once, saved in ${tidings.keyFile}):`, `  ${tidings.generatedKey}`);
  }
  lines.push(
    '',
    'Trigger a demo notification:',
    `  curl -s -X POST ${url}/v1/events -H "Authorization: Bearer ${key}" -H "Content-Type: application/json" \\`,
    `    -d '{"workflow":"welcome","to":[{"subscriberId":"ada","email":"ada@example.com"}],"data":{"name":"Ada"}}'`,
    'Then see what was sent (captured by the sandbox provider):',
    `  curl -s ${url}/v1/sandbox/messages -H "Authorization: Bearer ${key}"`,
  );
  return lines.join('\n');
}

function onSignals(logger: Logger, stop: () => Promise<void>): void {
  let stopping = false;
  const handler = (signal: string) => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal }, 'shutting down: draining in-flight work');
    stop().then(
      () => process.exit(0),
      (error) => {
        logger.error({ err: error }, 'shutdown failed');
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', () => handler('SIGTERM'));
  process.on('SIGINT', () => handler('SIGINT'));
}

async function run(args: string[], config: Config, logger: Logger): Promise<void> {
  const [command = 'start', ...rest] = args;
  switch (command) {
    case 'start':
    case 'api':
    case 'worker': {
      const roles: Role[] = command === 'start' ? ['api', 'worker'] : [command];
      const tidings = await startTidings(config, logger, roles);
      onSignals(logger, () => tidings.close());
      if (command === 'start') {
        await seedDemoWorkflow(tidings.store);
        process.stdout.write(`${banner(config, tidings)}\n`);
      } else if (command === 'api') {
        logger.info({ url: tidings.url }, 'api listening');
      } else {
        logger.info({ owner: tidings.worker?.owner, healthUrl: tidings.url }, 'worker started');
      }
      return;
    }
    case 'migrate': {
      if (rest.length > 0) return migrateFrom(rest, config);
      const store = await openStore(config);
      await store.close();
      process.stdout.write('migrations applied\n');
      return;
    }
    case 'tenant': {
      const [action, name] = rest;
      if (action !== 'create' || !name) throw new UsageError('usage: tidings tenant create NAME');
      const store = await openStore(config);
      const tenantId = newId('ten');
      await store.ensureTenant(tenantId, name);
      const key = generateApiKey();
      await addTenantKey(store, tenantId, key, 'default');
      await store.close();
      process.stdout.write(`${JSON.stringify({ tenantId, name, apiKey: key })}\n`);
      return;
    }
    case 'key':
      return keyCommand(rest, config);
    case 'help':
    case '--help':
    case '-h':
      process.stdout.write(`${USAGE}\n`);
      return;
    default:
      throw new UsageError(`unknown command "${command}"\n\n${USAGE}`);
  }
}

/** Entry point of the `tidings` command. */
export async function main(args: string[]): Promise<void> {
  let config: Config;
  try {
    config = loadConfig();
  } catch (error) {
    if (error instanceof ConfigError) {
      process.stderr.write(`tidings: configuration error: ${error.message}\n`);
      process.exit(2);
    }
    throw error;
  }
  const logger = createLogger(config.logLevel);
  for (const warning of config.warnings) logger.warn(warning);
  try {
    await run(args, config, logger);
  } catch (error) {
    if (error instanceof UsageError) {
      process.stderr.write(`${error.message}\n`);
      process.exit(2);
    }
    // Found at start (e.g. a TIDINGS_SECRET that does not open the stored credentials): said like one found in the environment.
    if (error instanceof ConfigError) {
      process.stderr.write(`tidings: configuration error: ${error.message}\n`);
      process.exit(2);
    }
    logger.fatal({ err: error }, 'tidings failed to start');
    process.exit(1);
  }
}
