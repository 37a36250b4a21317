import { randomUUID } from 'node:crypto';
import { chmodSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { Config } from '../config/index.ts';
import {
  addTenantKey,
  DEFAULT_KEY_LABEL,
  DEFAULT_TENANT,
  generateApiKey,
  keyPrefix,
} from '../security/api-keys.ts';
import { hashApiKey } from '../security/secrets.ts';
import type { Store } from '../store/port.ts';

// Key making lives in security/api-keys.ts (the tenant API uses it too); kept importable from here.
export { addTenantKey, DEFAULT_TENANT, generateApiKey };

/**
 * Makes sure the default tenant has a key: TIDINGS_API_KEY replaces any earlier default key;
 * otherwise one is generated on first start, saved under the data dir and answered (to be
 * printed once). Answers null when nothing new was generated.
 */
export async function seedDefaultTenant(
  store: Store,
  config: Config,
): Promise<{ generatedKey: string | null; keyFile: string }> {
  const keyFile = path.join(config.dataDir, 'api-key');
  await store.ensureTenant(DEFAULT_TENANT, 'Default');
  if (config.apiKey) {
    await addTenantKey(store, DEFAULT_TENANT, config.apiKey, DEFAULT_KEY_LABEL, true);
    forgetReplacedKey(keyFile, config.apiKey);
    return { generatedKey: null, keyFile };
  }
  if ((await store.countApiKeys(DEFAULT_TENANT, DEFAULT_KEY_LABEL)) > 0)
    return { generatedKey: null, keyFile };
  const key = generateApiKey();
  // Processes started together on one database: only the first one's key is kept (and printed).
  const added = await store.addFirstApiKey({
    tenantId: DEFAULT_TENANT,
    hash: hashApiKey(key),
    prefix: keyPrefix(key),
    label: DEFAULT_KEY_LABEL,
  });
  if (!added) return { generatedKey: null, keyFile };
  mkdirSync(config.dataDir, { recursive: true });
  writeFileSync(keyFile, `${key}\n`, { mode: 0o600 });
  chmodSync(keyFile, 0o600);
  return { generatedKey: key, keyFile };
}

/**
 * TIDINGS_API_KEY replaced the generated key, which is now refused: the file that kept it goes, so
 * `$(cat data/api-key)` (the README's way to read it) cannot hand out a dead key. A file holding
 * the very key TIDINGS_API_KEY was set to (`TIDINGS_API_KEY=$(cat data/api-key)`) stays.
 */
function forgetReplacedKey(keyFile: string, apiKey: string): void {
  let saved: string;
  try {
    saved = readFileSync(keyFile, 'utf8').trim();
  } catch {
    return;
  }
  if (saved !== apiKey) rmSync(keyFile, { force: true });
}

/** Set once the demo workflow was offered, so one the user deleted does not come back. */
export const DEMO_SEEDED_SETTING = 'demo_workflow_seeded';

/**
 * The demo workflow the banner's curl triggers, made by the first `start`, `api` or `migrate` of
 * an installation when the default tenant has none of that name (one the user changed is left as
 * it is, one the user deleted stays deleted). Processes starting together: one seeds it.
 */
export async function seedDemoWorkflow(store: Store): Promise<void> {
  const mine = randomUUID();
  if ((await store.settingOnce(DEMO_SEEDED_SETTING, mine)) !== mine) return;
  if (await store.getWorkflow(DEFAULT_TENANT, 'welcome')) return;
  try {
    await store.ensureTenant(DEFAULT_TENANT, 'Default');
    await store.putWorkflow(
      DEFAULT_TENANT,
      'welcome',
      {
        name: 'Welcome',
        category: 'transactional',
        channels: [
          {
            channel: 'in_app',
            template: {
              title: 'Welcome, {{ data.name | default: subscriber.subscriberId }}!',
              body: 'Tidings is running.',
            },
          },
          {
            channel: 'email',
            template: {
              subject: 'Welcome to Tidings',
              html: '<h1>Hello {{ data.name }}</h1><p>Your first notification.</p>',
            },
          },
        ],
      },
      Date.now(),
    );
  } catch (error) {
    // Not seeded after all: the next start tries again.
    await store.replaceSetting(DEMO_SEEDED_SETTING, mine, null).catch(() => {});
    throw error;
  }
}
