/**
 * How many SMS a text is sent as, and in which alphabet (3GPP TS 23.038 and TS 23.040). Pure.
 *
 * - GSM-7, when every character is in the GSM 03.38 default alphabet or its extension table:
 *   160 septets fit one SMS; a longer text is split into parts of 153 (7 septets go to the
 *   concatenation header). An extension character (`€`, `[`, `{`, `|`…) is an escape plus
 *   itself: 2 septets, never split across two parts.
 * - UCS-2 otherwise (a single emoji or a Cyrillic letter is enough): 70 UTF-16 code units fit
 *   one SMS, parts hold 67. A character outside the BMP (most emoji) is a surrogate pair, 2
 *   units, and is never split across two parts either.
 */

export type SmsEncoding = 'GSM-7' | 'UCS-2';

export interface SmsSegments {
  segments: number;
  encoding: SmsEncoding;
}

const GSM7_BASIC = new Set(
  '@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !"#¤%&\'()*+,-./0123456789:;<=>?' +
    '¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà',
);
const GSM7_EXTENSION = new Set('\f^{}\\[~]|€');

const LIMITS: Record<SmsEncoding, { single: number; part: number }> = {
  'GSM-7': { single: 160, part: 153 },
  'UCS-2': { single: 70, part: 67 },
};

/** The encoding a text needs: GSM-7 when every character has a GSM 03.38 code, else UCS-2. */
export function smsEncoding(text: string): SmsEncoding {
  for (const char of text) {
    if (!GSM7_BASIC.has(char) && !GSM7_EXTENSION.has(char)) return 'UCS-2';
  }
  return 'GSM-7';
}

/** The cost of one character (a code point) in its encoding's units: septets or UTF-16 code units. */
function units(char: string, encoding: SmsEncoding): number {
  if (encoding === 'UCS-2') return char.length;
  return GSM7_EXTENSION.has(char) ? 2 : 1;
}

/** The number of SMS `text` is sent as (at least 1) and the encoding it needs. */
export function countSegments(text: string): SmsSegments {
  const encoding = smsEncoding(text);
  const limit = LIMITS[encoding];
  let total = 0;
  for (const char of text) total += units(char, encoding);
  if (total <= limit.single) return { segments: 1, encoding };
  // Concatenated: fill each part, moving a character that would straddle two parts to the next.
  let segments = 1;
  let used = 0;
  for (const char of text) {
    const cost = units(char, encoding);
    if (used + cost > limit.part) {
      segments += 1;
      used = 0;
    }
    used += cost;
  }
  return { segments, encoding };
}
