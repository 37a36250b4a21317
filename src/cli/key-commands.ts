import { KEY_CACHE_TTL_MS } from '../api/auth.ts';
import type { Config } from '../config/index.ts';
import { displayNameProblem } from '../ingest/fields.ts';
import { addTenantKey, generateApiKey, keyPrefix, reservedLabelProblem } from '../security/api-keys.ts';
import { iso } from '../shared/time.ts';
import { parseOptions, UsageError } from './arguments.ts';
import { DEFAULT_TENANT } from './bootstrap.ts';
import { openStore } from './open-store.ts';

export const KEY_USAGE = `usage: tidings key create [--tenant ID] [--label LABEL]
       tidings key list [--tenant ID]
       tidings key revoke KEY_ID`;

/** Keys made here are labelled so, unless told otherwise ("default" is the one TIDINGS_API_KEY replaces). */
const CLI_KEY_LABEL = 'api';

/** Something named does not exist: said on stderr, exit code 1. */
function fail(message: string): void {
  process.stderr.write(`tidings: ${message}\n`);
  process.exitCode = 1;
}

function table(rows: string[][]): string {
  const widths = rows[0]!.map((_, column) => Math.max(...rows.map((row) => row[column]!.length)));
  return rows
    .map((row) =>
      row
        .map((cell, i) => cell.padEnd(widths[i]!))
        .join('  ')
        .trimEnd(),
    )
    .join('\n');
}

/**
 * `tidings key create|list|revoke`: key management offline, straight on the store (the tenant
 * API does the same online). Lists show ids and prefixes, never a secret; a new key is printed
 * once, at creation. A revoked key stops working at once for new processes and within the
 * auth cache's TTL in running ones.
 */
export async function keyCommand(args: string[], config: Config): Promise<void> {
  const [action, ...rest] = args;
  if (action === 'create') {
    const { options, words } = parseOptions(rest, ['tenant', 'label'], KEY_USAGE);
    if (words.length > 0) throw new UsageError(KEY_USAGE);
    const tenantId = options.tenant ?? DEFAULT_TENANT;
    const label = options.label ?? CLI_KEY_LABEL;
    // The API's rule for a key's label (POST /v1/tenants/{id}/keys).
    const problem = displayNameProblem(label, 100) ?? reservedLabelProblem(tenantId, label);
    if (problem) throw new UsageError(`--label ${problem}`);
    const store = await openStore(config);
    try {
      // The default tenant is there from the first start on; before it, this command makes it, as
      // a start would, so a key can be made for a database no server has opened yet.
      if (tenantId === DEFAULT_TENANT) await store.ensureTenant(DEFAULT_TENANT, 'Default');
      else if (!(await store.tenantExists(tenantId))) return fail(`no tenant "${tenantId}"`);
      const apiKey = generateApiKey();
      const keyId = await addTenantKey(store, tenantId, apiKey, label);
      process.stdout.write(
        `${JSON.stringify({ keyId, tenantId, apiKey, prefix: keyPrefix(apiKey), label })}\n`,
      );
    } finally {
      await store.close();
    }
    return;
  }
  if (action === 'list') {
    const { options, words } = parseOptions(rest, ['tenant'], KEY_USAGE);
    if (words.length > 0) throw new UsageError(KEY_USAGE);
    const store = await openStore(config);
    try {
      const keys = await store.listApiKeys(options.tenant ?? null);
      const rows = keys.map((k) => [k.id, k.tenantId, k.prefix, k.label, iso(k.createdAt)]);
      process.stdout.write(`${table([['KEY_ID', 'TENANT', 'PREFIX', 'LABEL', 'CREATED'], ...rows])}\n`);
    } finally {
      await store.close();
    }
    return;
  }
  if (action === 'revoke') {
    const { words } = parseOptions(rest, [], KEY_USAGE);
    if (words.length !== 1) throw new UsageError(KEY_USAGE);
    const keyId = words[0]!;
    const store = await openStore(config);
    try {
      if (!(await store.revokeApiKey(keyId, null))) return fail(`no key "${keyId}"`);
    } finally {
      await store.close();
    }
    process.stdout.write(
      store.capabilities.crossProcessWakeups
        ? `revoked ${keyId}; running Tidings processes stopped accepting it\n`
        : `revoked ${keyId}; running Tidings processes stop accepting it within ${KEY_CACHE_TTL_MS / 1000} s\n`,
    );
    return;
  }
  throw new UsageError(KEY_USAGE);
}
