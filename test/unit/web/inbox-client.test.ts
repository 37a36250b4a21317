import { describe, expect, it } from 'vitest';

// The browser module, imported as it is served (plain JS; the element needs a DOM, these do not).
const MODULE: string = '../../../web/inbox/inbox.js';
// biome-ignore lint/suspicious/noExplicitAny: an untyped ES module, checked by the assertions
const inbox: any = await import(MODULE);

describe('inbox.js helpers', () => {
  it('follows only http(s) URLs', () => {
    for (const bad of [
      'javascript:alert(1)',
      'JAVASCRIPT:alert(1)',
      ' javascript:x',
      'data:text/html,x',
      'vbscript:x',
      '',
      null,
      42,
    ]) {
      expect(inbox.safeUrl(bad), String(bad)).toBeNull();
    }
    expect(inbox.safeUrl('https://app.example/x?y=1')).toBe('https://app.example/x?y=1');
    expect(inbox.safeUrl('http://app.example')).toBe('http://app.example/');
  });

  it("resumes a renewed token's stream, but not from another subscriber's log position", () => {
    const token = (claims: object) => `h.${Buffer.from(JSON.stringify(claims)).toString('base64url')}.sig`;
    const ada = token({ tid: 'default', sub: 'ada', exp: 1 });
    expect(inbox.tokenSubject(token({ tid: 'default', sub: 'ada', exp: 2 }))).toBe(inbox.tokenSubject(ada));
    for (const other of [token({ tid: 'default', sub: 'bob' }), token({ tid: 'ten_2', sub: 'ada' })])
      expect(inbox.tokenSubject(other)).not.toBe(inbox.tokenSubject(ada));
    for (const unreadable of ['', 'abc', 'a.!!.c', null]) expect(inbox.tokenSubject(unreadable)).toBeNull();

    const client = new inbox.TidingsInboxClient({ api: 'http://tidings.test', token: ada });
    client.lastEventId = '7';
    client.setToken(token({ tid: 'default', sub: 'ada', exp: 2 }));
    expect(client.lastEventId).toBe('7');
    client.setToken(token({ tid: 'default', sub: 'bob', exp: 2 }));
    expect(client.lastEventId).toBeNull();
  });

  it('takes a resumed stream for one that replayed what was missed, unless the server says it could not', () => {
    const client = new inbox.TidingsInboxClient({ api: 'http://tidings.test', token: 'h.e30.sig' });
    client.status = () => undefined;
    const readies: { resumed: boolean }[] = [];
    client.addEventListener('event', (e: { detail: { type: string; resumed: boolean } }) => {
      if (e.detail.type === 'ready') readies.push(e.detail);
    });
    client.resumedFrom = null;
    client.receive('{"type":"ready","unreadCount":0}');
    client.resumedFrom = '7';
    client.receive('{"type":"ready","unreadCount":0,"resumed":true}');
    client.receive('{"type":"ready","unreadCount":0,"resumed":false}');
    expect(readies.map((r) => r.resumed)).toEqual([false, true, false]);
  });

  it('backs off exponentially with full jitter, capped at 30 s and never below 100 ms', () => {
    expect([0, 1, 2, 5, 6, 20].map((n) => inbox.backoffDelay(n, () => 1))).toEqual([
      500, 1000, 2000, 16000, 30000, 30000,
    ]);
    expect(inbox.backoffDelay(4, () => 0.5)).toBe(4000);
    expect(inbox.backoffDelay(4, () => 0)).toBe(100);
  });

  it('says times relative to now in the given language', () => {
    const now = Date.parse('2026-06-10T12:00:00Z');
    expect(inbox.relativeTime('2026-06-10T11:59:30Z', now, 'en')).toBe('now');
    expect(inbox.relativeTime('2026-06-10T11:57:00Z', now, 'en')).toBe('3 minutes ago');
    expect(inbox.relativeTime('2026-06-09T12:00:00Z', now, 'en')).toBe('yesterday');
    expect(inbox.relativeTime('2026-06-09T12:00:00Z', now, 'de')).toBe('gestern');
    expect(inbox.relativeTime('not a time', now, 'en')).toBe('');
  });

  it('snoozes for an hour, until tomorrow 09:00 or next Monday 09:00, local time', () => {
    const wednesday = new Date(2026, 5, 10, 15, 30);
    expect(inbox.snoozeUntil('snoozeHour', wednesday)).toEqual(new Date(2026, 5, 10, 16, 30));
    expect(inbox.snoozeUntil('snoozeTomorrow', wednesday)).toEqual(new Date(2026, 5, 11, 9, 0));
    expect(inbox.snoozeUntil('snoozeWeek', wednesday)).toEqual(new Date(2026, 5, 15, 9, 0));
    expect(inbox.snoozeUntil('snoozeWeek', new Date(2026, 5, 15, 8, 0))).toEqual(new Date(2026, 5, 22, 9, 0));
  });
});
