import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { addTenantKey } from '../../src/cli/bootstrap.ts';
import { startTestServer, type TestServer } from '../helpers/server.ts';

// MJML compiles on a thread of its own under a time limit (src/templates/mjml-compiler.ts): a
// template whose CSS inlining explodes is the tenant's bad input, and stalls no one else.

let server: TestServer;
const OTHER_KEY = 'tdk_mjml_other_tenant_0123456789';
const asB = { auth: OTHER_KEY };

const FRAME = `<mjml><mj-body><mj-section><mj-column>
  <mj-text>{{ content }}</mj-text>
</mj-column></mj-section></mj-body></mjml>`;

/** 4,000 inlined rules × 5,000 elements (79 KB): minutes of CSS inlining, far past the limit. */
function juice(): string {
  let css = '';
  for (let i = 0; i < 4_000; i++) css += `b{x${i}:1}`;
  return (
    `<mjml><mj-head><mj-style inline="inline">${css}</mj-style></mj-head><mj-body><mj-section>` +
    `<mj-column><mj-text>${'<b>x</b>'.repeat(5_000)}</mj-text></mj-column></mj-section></mj-body></mjml>`
  );
}

beforeAll(async () => {
  server = await startTestServer();
  await server.tidings.store.ensureTenant('tenant-b', 'B');
  await addTenantKey(server.tidings.store, 'tenant-b', OTHER_KEY, 'test');
  // B's layout; compiling it also starts the compiler thread (loading MJML takes a second).
  expect((await server.call('PUT', '/v1/layouts/brand', { mjml: FRAME }, asB)).status).toBe(200);
});

afterAll(async () => {
  await server?.close();
});

describe('MJML too expensive to compile', () => {
  it("answers 400 naming the field within seconds, while other tenants' requests go on", async () => {
    const startedAt = Date.now();
    let slowDone = false;
    const slow = server.call('PUT', '/v1/layouts/juice', { mjml: juice() }).finally(() => {
      slowDone = true;
    });
    // Requests one after another until the slow PUT answers: all of these are answered while it
    // compiles (with compiling on the API thread, none could be after the first few).
    let answeredMeanwhile = 0;
    while (!slowDone) {
      const [health, layout] = await Promise.all([
        server.call('GET', '/healthz', undefined, { auth: null }),
        server.call('GET', '/v1/layouts/brand', undefined, asB),
      ]);
      expect(health.status).toBe(200);
      expect(layout.status).toBe(200);
      if (!slowDone) answeredMeanwhile++;
    }
    const answer = await slow;
    expect(Date.now() - startedAt).toBeLessThan(6_000);
    expect(answer.status).toBe(400);
    expect(answer.body.error.code).toBe('validation_failed');
    expect(answer.body.error.details).toEqual([
      { path: 'mjml', message: expect.stringMatching(/^took longer than 2 s to compile/) },
    ]);
    expect(answeredMeanwhile).toBeGreaterThan(10);
    expect((await server.call('GET', '/v1/layouts/juice')).status).toBe(404);

    // A fresh compiler thread takes the next template.
    const next = await server.call('PUT', '/v1/layouts/brand', { mjml: FRAME }, asB);
    expect(next.status).toBe(200);
    expect(next.body.version).toBe(2);
  });

  it("names the workflow step's field, and spends no more time on the steps after it", async () => {
    const slow = { channel: 'email', template: { subject: 'x', mjml: juice() } };
    const answer = await server.call('PUT', '/v1/workflows/juice', { channels: [slow, slow] });
    expect(answer.status).toBe(400);
    expect(answer.body.error.details).toEqual([
      { path: 'channels[0].template.mjml', message: expect.stringMatching(/^took longer than 2 s/) },
    ]);
  });

  it("takes one tenant's compiles in turns: another tenant's template waits behind one of them, not all", async () => {
    const finished: string[] = [];
    const put = (name: string, mjml: string, options?: { auth: string }) =>
      server.call('PUT', `/v1/layouts/${name}`, { mjml }, options).then((answer) => {
        finished.push(name);
        return answer;
      });
    // A's two slow templates: the first compiles, the second waits for A's turn (not in the thread's queue).
    const a1 = put('juice_a1', juice());
    const a2 = put('juice_a2', juice());
    await new Promise((resolve) => setImmediate(resolve));
    const b = put('brand', FRAME, asB);
    const answers = await Promise.all([a1, a2, b]);
    expect(answers.map((answer) => answer.status)).toEqual([400, 400, 200]);
    expect(finished.indexOf('brand')).toBeLessThan(finished.indexOf('juice_a2'));
  });
});
