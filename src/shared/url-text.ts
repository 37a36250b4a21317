/**
 * URLs a tenant gives (integration endpoints, webhook URLs, web push endpoints) hold no whitespace
 * and no control character: URL parsers silently drop tabs and line breaks, so such a URL would be
 * stored as one thing and called as another. Refused at the API, naming the field.
 */
export function hasUrlControlCharacters(text: string): boolean {
  for (let i = 0; i < text.length; i++) {
    const code = text.charCodeAt(i);
    // C0 controls, space and DEL.
    if (code <= 0x20 || code === 0x7f) return true;
  }
  // Other whitespace: NBSP, line and paragraph separators…
  return /\s/.test(text);
}

export const URL_CONTROL_CHARACTERS_MESSAGE = 'must be a URL without whitespace or control characters';
