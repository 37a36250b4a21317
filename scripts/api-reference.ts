/**
 * `npm run docs:api`: writes docs/reference.md from the OpenAPI document a real Tidings serves
 * (started here on a throwaway SQLite database, API only, on a free port).
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { startTidings } from '../src/cli/runtime.ts';
import { loadConfig } from '../src/config/index.ts';
import { silentLogger } from '../src/telemetry/logger.ts';
import { renderReference } from './api-reference/render.ts';

const target = fileURLToPath(new URL('../docs/reference.md', import.meta.url));
const dataDir = mkdtempSync(path.join(tmpdir(), 'tidings-docs-'));
const config = loadConfig({
  TIDINGS_DATABASE_URL: `sqlite:${path.join(dataDir, 'tidings.db')}`,
  TIDINGS_PORT: '0',
  TIDINGS_API_KEY: 'tdk_reference_only_0123456789',
});
const tidings = await startTidings(config, silentLogger(), ['api']);
try {
  const document = await (await fetch(`${tidings.url}/openapi.json`)).json();
  writeFileSync(target, renderReference(document));
  process.stdout.write(`wrote ${path.relative(process.cwd(), target)}\n`);
} finally {
  await tidings.close();
  rmSync(dataDir, { recursive: true, force: true });
}
