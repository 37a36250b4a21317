import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { callJson, runCli, startChild } from '../../helpers/child.ts';

const dirs: string[] = [];
afterEach(() => {
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

describe('tidings key create on a database no server has opened yet', () => {
  it('makes a key for the default tenant, which the first start then serves', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'tidings-key-create-'));
    dirs.push(dir);
    const env = { TIDINGS_DATABASE_URL: `sqlite:${path.join(dir, 'tidings.db')}`, TIDINGS_DATA_DIR: dir };
    const created = await runCli(['key', 'create'], env);
    expect(created.code, created.stderr).toBe(0);
    expect(JSON.parse(created.stdout)).toMatchObject({
      tenantId: 'default',
      apiKey: expect.stringMatching(/^tdk_/),
    });
    const listed = await runCli(['key', 'list'], env);
    expect(listed.stdout).toContain(JSON.parse(created.stdout).keyId);
    const server = await startChild(env);
    try {
      const workflows = await callJson(
        `${server.url}/v1/workflows`,
        'GET',
        JSON.parse(created.stdout).apiKey,
      );
      expect(workflows.status).toBe(200);
    } finally {
      server.proc.kill('SIGTERM');
      await new Promise((resolve) => server.proc.once('exit', resolve));
    }
    // Another tenant is still refused until it is created.
    const other = await runCli(['key', 'create', '--tenant', 'ten_nobody'], env);
    expect(other.code).not.toBe(0);
    expect(other.stderr).toContain('no tenant "ten_nobody"');
  });
});
