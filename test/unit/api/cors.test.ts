import { describe, expect, it } from 'vitest';
import { corsHeaders, isBrowserFacing, isReceipt, originAllowed } from '../../../src/api/cors.ts';

describe('browser-facing CORS', () => {
  it.each([
    ['/v1/inbox', true],
    ['/v1/inbox?limit=5', true],
    ['/v1/inbox/stream?token=x', true],
    ['/inbox.js', true],
    ['/v1/unsubscribe/abc', true],
    ['/v1/preferences-page?token=x', true],
    ['/v1/inboxes', false],
    ['/inbox.jsx', false],
    ['/v1/events', false],
    ['/v1/subscribers/u/token', false],
    // A receipt is browser facing only with a subscriber token, known after authentication (isReceipt).
    ['/v1/messages/msg_1/receipt', false],
  ])('%s is browser-facing: %s', (url, expected) => {
    expect(isBrowserFacing(url)).toBe(expected);
  });

  it.each([
    ['/v1/messages/msg_1/receipt', true],
    ['/v1/messages/msg_1/receipt?x=1', true],
    ['/v1/messages/msg_1', false],
    ['/v1/messages/msg_1/receipts', false],
    ['/v1/messages/a/b/receipt', false],
  ])('%s is a receipt: %s', (url, expected) => {
    expect(isReceipt(url)).toBe(expected);
  });

  it('reflects any origin (or answers *) by default, and only listed origins otherwise', () => {
    expect(corsHeaders('https://a.test', '*')['access-control-allow-origin']).toBe('https://a.test');
    expect(corsHeaders(undefined, '*')['access-control-allow-origin']).toBe('*');
    expect(corsHeaders('https://a.test', ['https://a.test'])['access-control-allow-origin']).toBe(
      'https://a.test',
    );
    const refused = corsHeaders('https://b.test', ['https://a.test']);
    expect(refused['access-control-allow-origin']).toBeUndefined();
    expect(refused.vary).toBe('Origin');
    expect(corsHeaders('https://a.test', '*')['access-control-expose-headers']).toContain('Retry-After');
  });

  it('lets a WebSocket upgrade through from a listed origin, any origin under *, or no origin', () => {
    expect(originAllowed('https://evil.test', '*')).toBe(true);
    expect(originAllowed('https://a.test', ['https://a.test'])).toBe(true);
    expect(originAllowed('https://evil.test', ['https://a.test'])).toBe(false);
    expect(originAllowed('null', ['https://a.test'])).toBe(false);
    expect(originAllowed(undefined, ['https://a.test'])).toBe(true);
  });
});
