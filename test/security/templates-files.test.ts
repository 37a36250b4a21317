import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEFAULT_TENANT } from '../../src/cli/bootstrap.ts';
import { startTestServer, type TestServer } from '../helpers/server.ts';
import { waitFor } from '../helpers/wait.ts';

let server: TestServer;
/** A file only this test knows the content of, at an absolute path outside the working directory. */
let secretFile: string;
const SECRET = 'file-content-that-must-never-render-0xC0FFEE';

beforeAll(async () => {
  server = await startTestServer();
  secretFile = path.join(server.dataDir, 'secret.txt');
  writeFileSync(secretFile, SECRET);
});

afterAll(async () => {
  await server?.close();
});

/**
 * Every way a template could name a file: static names (quoted either way, unquoted), relative
 * (`../`), absolute, names taken from event data, inside `{% liquid %}`, with whitespace control.
 * `data.f` is set to the secret file's absolute path when these render.
 */
function fileTemplates(): Record<string, string> {
  return {
    includeSingle: "{% include 'package.json' %}",
    includeDouble: '{% include "package.json" %}',
    includeUnquoted: '{% include package.json %}',
    includeRelative: "{% include '../templates/package.json' %}",
    includeAbsolute: `{% include '${secretFile}' %}`,
    includeEtc: "{% include '/etc/passwd' %}",
    includeFromData: '{% include data.f %}',
    includeTrimmed: "{%- include 'package.json' -%}",
    includeWith: "{% include 'package.json' with data %}",
    renderSingle: "{% render 'package.json' %}",
    renderAbsolute: `{% render "${secretFile}" %}`,
    renderFromData: '{% render data.f %}',
    renderFor: "{% render 'package.json' for data.list as x %}",
    layoutStatic: "{% layout 'package.json' %}",
    layoutAbsolute: `{% layout '${secretFile}' %}{% block b %}x{% endblock %}`,
    layoutFromData: '{% layout data.f %}',
    liquidTag: "{% liquid\n  include 'package.json'\n%}",
    nestedInIf: "{% if true %}{% include '/etc/passwd' %}{% endif %}",
    nestedInFor: '{% for x in data.list %}{% render data.f %}{% endfor %}',
  };
}

/** What file content would look like in a rendered message. */
function holdsFileContent(text: string): boolean {
  return text.includes(SECRET) || text.includes('"name": "tidings"') || /root:.*:0:0:/.test(text);
}

describe('Finding 1: templates read server files', () => {
  it('refuses include, render and layout at PUT /v1/workflows with 400 naming the field', async () => {
    for (const [name, source] of Object.entries(fileTemplates())) {
      for (const channel of ['in_app', 'email'] as const) {
        const field = channel === 'email' ? 'html' : 'body';
        const put = await server.call('PUT', `/v1/workflows/files-${name}-${channel}`, {
          channels: [
            { channel: 'in_app', template: { title: 'fine {{ data.x }}' } },
            { channel, template: { title: 'ok', [field]: source } },
          ],
        });
        expect({ name, channel, status: put.status }).toEqual({ name, channel, status: 400 });
        expect(put.body.error.code).toBe('validation_failed');
        expect(put.body.error.details).toEqual([
          {
            path: `channels[1].template.${field}`,
            message: expect.stringMatching(/partials are not supported/),
          },
        ]);
        // Nothing was saved.
        expect((await server.call('GET', `/v1/workflows/files-${name}-${channel}`)).status).toBe(404);
      }
    }
  });

  it('a stored template that loads a file anyway fails its message with template_error, showing no file', async () => {
    // Templates saved before the rule existed: written straight to the store, past the API.
    const templates = fileTemplates();
    for (const [name, source] of Object.entries(templates)) {
      await server.tidings.store.putWorkflow(
        DEFAULT_TENANT,
        `stored-${name}`,
        { channels: [{ channel: 'in_app', template: { title: 'x', body: source } }] },
        Date.now(),
      );
    }
    expect((await server.call('GET', '/v1/workflows/stored-includeSingle')).status).toBe(200);

    const eventIds: string[] = [];
    for (const name of Object.keys(templates)) {
      const sent = await server.call('POST', '/v1/events', {
        workflow: `stored-${name}`,
        to: ['file-reader'],
        data: { f: secretFile, list: [1] },
      });
      expect(sent.status).toBe(202);
      eventIds.push(sent.body.eventId);
    }
    for (const [i, name] of Object.keys(templates).entries()) {
      const event = await waitFor(async () => {
        const view = await server.call('GET', `/v1/events/${eventIds[i]}`);
        return view.body.messages?.length === 1 ? view.body : null;
      }, `the message of ${name}`);
      const message = (await server.call('GET', `/v1/messages/${event.messages[0].messageId}`)).body;
      expect({ name, status: message.status, reason: message.reason }).toEqual({
        name,
        status: 'failed',
        reason: 'template_error',
      });
      expect(holdsFileContent(JSON.stringify(message))).toBe(false);
    }
    const token = (await server.call('POST', '/v1/subscribers/file-reader/token')).body.token;
    const inbox = await server.call('GET', '/v1/inbox?limit=100', undefined, { auth: token });
    expect(inbox.status).toBe(200);
    // Failed in-app messages are no inbox items.
    expect(inbox.body.items).toEqual([]);
    expect(holdsFileContent(JSON.stringify(inbox.body))).toBe(false);
  });
});
