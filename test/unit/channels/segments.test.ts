import { describe, expect, it } from 'vitest';
import { countSegments, smsEncoding } from '../../../src/channels/sms/segments.ts';

describe('SMS segments', () => {
  it.each([
    ['empty', '', 1, 'GSM-7'],
    ['160 GSM-7 characters: one SMS', 'a'.repeat(160), 1, 'GSM-7'],
    ['161 GSM-7 characters: two parts of 153', 'a'.repeat(161), 2, 'GSM-7'],
    ['306 GSM-7 characters: two full parts', 'a'.repeat(306), 2, 'GSM-7'],
    ['307 GSM-7 characters: three parts', 'a'.repeat(307), 3, 'GSM-7'],
    ['GSM-7 accents and symbols of the basic table (é, ñ, Ä, £, ¥, §, ¿)', 'é ñ Ä £ ¥ § ¿ @ _', 1, 'GSM-7'],
    ['80 euro signs: each costs 2 septets, 160 in all', '€'.repeat(80), 1, 'GSM-7'],
    ['81 euro signs: 162 septets, two parts', '€'.repeat(81), 2, 'GSM-7'],
    // 306 septets would fill two parts exactly, but the € cannot be split after 152 characters.
    ['an extension character never straddles two parts', `${'a'.repeat(152)}€${'a'.repeat(152)}`, 3, 'GSM-7'],
    ['70 UCS-2 characters: one SMS', 'ж'.repeat(70), 1, 'UCS-2'],
    ['71 UCS-2 characters: two parts of 67', 'ж'.repeat(71), 2, 'UCS-2'],
    ['one emoji makes all of it UCS-2', `Hello ${'🎉'}`, 1, 'UCS-2'],
    ['a 200-character SMS with an emoji: UCS-2, 3 segments', `${'a'.repeat(198)}🎉`, 3, 'UCS-2'],
    // 134 code units would fill two parts exactly, but the surrogate pair cannot be split after 66.
    ['an emoji (2 code units) never straddles two parts', `${'a'.repeat(66)}🎉${'a'.repeat(66)}`, 3, 'UCS-2'],
    ['35 emoji: 70 code units, one SMS', '🎉'.repeat(35), 1, 'UCS-2'],
    ['36 emoji: 72 code units, two parts', '🎉'.repeat(36), 2, 'UCS-2'],
  ] as const)('%s', (_name, text, segments, encoding) => {
    expect(countSegments(text)).toEqual({ segments, encoding });
  });

  it('needs UCS-2 for characters outside GSM 03.38, even common ones (á, ç lower case, `)', () => {
    expect(smsEncoding('á')).toBe('UCS-2');
    expect(smsEncoding('ç')).toBe('UCS-2');
    expect(smsEncoding('`')).toBe('UCS-2');
    expect(smsEncoding('Ç')).toBe('GSM-7');
  });

  it('counts a 200-character message with an emoji at the start the same way', () => {
    // 2 + 198 = 200 code units: the emoji sits wholly in the first part.
    expect(countSegments(`🎉${'a'.repeat(198)}`)).toEqual({ segments: 3, encoding: 'UCS-2' });
  });
});
