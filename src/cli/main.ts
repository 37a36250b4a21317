import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { type Config, ConfigError, loadConfig } from '../config/index.ts';
import { createLogger, type Logger, resolveLogFormat } from '../telemetry/logger.ts';
import { UsageError } from './arguments.ts';
import type { Role, Tidings } from './runtime.ts';
import { paintFor } from './terminal.ts';

/** The docs folder of this installation (it ships with the package). */
const DOCS = fileURLToPath(new URL('../../docs', import.meta.url));

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
  backup FILE [--force] copy the embedded SQLite database into FILE (online: Tidings may run)
  restore FILE          replace the embedded SQLite database with the backup FILE (Tidings stopped)
  doctor                check the installation, changing nothing: configuration, store reachable
                        and migrated, master secret, each integration's client, clock (exit 1 on ✗)
  send WORKFLOW SUBSCRIBER... [--data JSON] [--idempotency-key KEY] [--wait SECONDS]
                        trigger an event through the running server (TIDINGS_URL, TIDINGS_API_KEY)
                        and print its id and its messages (watched up to --wait, default 5 s)
  tail [--tenant ID] [--workflow KEY] [--window DURATION]
                        follow message status changes as they happen (Ctrl-C stops); only
                        messages created within --window (default 1h)

Configuration comes from TIDINGS_* environment variables: see ${DOCS}/operations.md.
Guides and the API reference: ${DOCS}/README.md; a running server also serves /openapi.json.`;

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
      ? null
      : existsSync(tidings.keyFile)
        ? `$(cat ${shellWord(tidings.keyFile)})`
        : '<your key>');
  const lines = [
    `Tidings is running at ${url}`,
    '(this command stays in the foreground: Ctrl-C stops it; run the commands below in another terminal)',
  ];
  if (tidings.generatedKey) {
    lines.push('', `Your API key (shown once, saved in ${tidings.keyFile}):`, `  ${tidings.generatedKey}`);
  }
  const auth = '-H "Authorization: Bearer $TIDINGS_API_KEY"';
  lines.push(
    '',
    'Set up your shell:',
    `  export TIDINGS_URL=${url}`,
    key === null ? '  # TIDINGS_API_KEY: the key you set it to' : `  export TIDINGS_API_KEY=${key}`,
    'Trigger a demo notification (the "welcome" workflow: an in-app item and an email):',
    `  curl -s -X POST "$TIDINGS_URL/v1/events" ${auth} -H "Content-Type: application/json" \\`,
    `    -d '{"workflow":"welcome","to":[{"subscriberId":"ada","email":"ada@example.com"}],"data":{"name":"Ada"}}'`,
    'See the email, captured by the sandbox provider instead of sent:',
    `  curl -s "$TIDINGS_URL/v1/sandbox/messages" ${auth}`,
    "See ada's in-app inbox, with a subscriber token as her browser would:",
    `  TOKEN=$(curl -s -X POST "$TIDINGS_URL/v1/subscribers/ada/token" ${auth} | sed -E 's/.*"token":"([^"]+)".*/\\1/')`,
    '  curl -s "$TIDINGS_URL/v1/inbox" -H "Authorization: Bearer $TOKEN"',
    '',
    `Docs: ${DOCS}/README.md; the API: ${url}/openapi.json`,
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

/**
 * Each command loads its own modules when it runs: the sources are compiled on load, and loading
 * the server for `tidings --help` or `tidings key list` cost seconds of CPU before any work.
 */
async function run(args: string[], config: Config, logger: Logger): Promise<void> {
  const [command = 'start', ...rest] = args;
  switch (command) {
    case 'start':
    case 'api':
    case 'worker': {
      const roles: Role[] = command === 'start' ? ['api', 'worker'] : [command];
      const [{ startTidings }, { seedDemoWorkflow }] = await Promise.all([
        import('./runtime.ts'),
        import('./bootstrap.ts'),
      ]);
      const tidings = await startTidings(config, logger, roles);
      onSignals(logger, () => tidings.close());
      if (command === 'start' || command === 'api') {
        await seedDemoWorkflow(tidings.store);
        if (command === 'api') logger.info({ url: tidings.url }, 'api listening');
        process.stdout.write(`${banner(config, tidings)}\n`);
      } else {
        logger.info({ owner: tidings.worker?.owner, healthUrl: tidings.url }, 'worker started');
      }
      return;
    }
    case 'migrate': {
      if (rest.length > 0) return (await import('./migrate-from.ts')).migrateFrom(rest, config);
      const [{ openStore }, { seedDemoWorkflow }] = await Promise.all([
        import('./runtime.ts'),
        import('./bootstrap.ts'),
      ]);
      const store = await openStore(config);
      await seedDemoWorkflow(store);
      await store.close();
      process.stdout.write('migrations applied\n');
      return;
    }
    case 'tenant': {
      const [action, name] = rest;
      if (action !== 'create' || !name) throw new UsageError('usage: tidings tenant create NAME');
      const [
        { openStore },
        { addTenantKey, FIRST_KEY_LABEL, generateApiKey },
        { newId },
        { displayNameProblem },
      ] = await Promise.all([
        import('./runtime.ts'),
        import('../security/api-keys.ts'),
        import('../shared/ids.ts'),
        import('../ingest/fields.ts'),
      ]);
      // The API's rule for a tenant's name (POST /v1/tenants).
      const problem = displayNameProblem(name, 200);
      if (problem) throw new UsageError(`NAME ${problem}`);
      const store = await openStore(config);
      const tenantId = newId('ten');
      await store.ensureTenant(tenantId, name);
      const key = generateApiKey();
      const keyId = await addTenantKey(store, tenantId, key, FIRST_KEY_LABEL);
      await store.close();
      // As POST /v1/tenants answers: the key's id is what `tidings key revoke` takes.
      process.stdout.write(`${JSON.stringify({ tenantId, name, apiKey: key, keyId })}\n`);
      return;
    }
    case 'key':
      return (await import('./key-commands.ts')).keyCommand(rest, config);
    case 'backup':
      return (await import('./backup-commands.ts')).backupCommand(rest, config);
    case 'restore':
      return (await import('./backup-commands.ts')).restoreCommand(rest, config);
    case 'doctor': {
      if (rest.length > 0) throw new UsageError('usage: tidings doctor');
      process.exitCode = await (await import('./doctor.ts')).doctor(config);
      return;
    }
    case 'send':
      return (await import('./send.ts')).sendCommand(rest);
    case 'tail':
      return (await import('./tail.ts')).tailCommand(rest, config);
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
      // doctor reports a configuration that does not parse like any other failed check.
      if (args[0] === 'doctor') {
        process.stdout.write(`${paintFor(process.stdout).red('✗')} configuration: ${error.message}\n`);
        process.exit(1);
      }
      process.stderr.write(`tidings: configuration error: ${error.message}\n`);
      process.exit(2);
    }
    throw error;
  }
  // Decided here, once, and handed on: worker threads have no terminal of their own to look at.
  const logFormat = resolveLogFormat(config.logFormat, process.stdout.isTTY);
  config = Object.freeze({ ...config, logFormat });
  const logger = createLogger(config.logLevel, undefined, logFormat);
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
