// Most strings have neither: one cheap test decides whether to look closer.
// biome-ignore lint/suspicious/noControlCharactersInRegex: finding NUL is the point
const SUSPECT = /[\u0000\ud800-\udfff]/;
const UNPAIRED_SURROGATE = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/;

/**
 * Why a store cannot keep `text` faithfully, or null: a NUL character or an unpaired UTF-16
 * surrogate (PostgreSQL `jsonb` and `text` refuse both; SQLite would keep what PostgreSQL
 * refuses, and the two stores must not disagree).
 */
export function unstorableText(text: string): string | null {
  if (!SUSPECT.test(text)) return null;
  if (text.includes('\u0000')) return 'must not contain NUL (\\u0000) characters';
  if (UNPAIRED_SURROGATE.test(text)) return 'must not contain unpaired UTF-16 surrogates';
  return null;
}
