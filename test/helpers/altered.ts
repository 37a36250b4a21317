/**
 * `token` with its last `count` characters each replaced by another base64url character: always a
 * different token (a fixed "AA" ending was no change at all for a token that ended in "AA", and
 * the test that expected it refused failed about once in 4,096 runs).
 */
export function alteredEnd(token: string, count: number): string {
  const end = [...token.slice(-count)].map((c) => (c === 'A' ? 'B' : 'A')).join('');
  return `${token.slice(0, -count)}${end}`;
}
