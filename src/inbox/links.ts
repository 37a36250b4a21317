/** The in-app template fields that hold a link the inbox client opens. */
const LINK_FIELDS = ['actionUrl', 'action1Url', 'action2Url'] as const;

/** Schemes that run code or carry a document of their own when a browser opens them. */
const SCRIPT_SCHEMES = new Set(['javascript:', 'vbscript:', 'data:', 'blob:', 'file:']);

/**
 * True when a browser opening `link` could run something in the page's origin. Parsed as a
 * browser would (tabs and newlines inside the scheme dropped, leading spaces and controls
 * trimmed), so `java\tscript:` and ` JAVASCRIPT:` read as what they are; relative links and
 * app deep links (`myapp://thread/9`) are fine.
 */
export function isScriptLink(link: string): boolean {
  if (!URL.canParse(link, 'https://relative.invalid/')) return false;
  return SCRIPT_SCHEMES.has(new URL(link, 'https://relative.invalid/').protocol);
}

/**
 * A rendered in-app item without links that would run script: event data rendered into
 * `actionUrl` (`{{ data.link }}`) may come from anyone the tenant takes input from, and the inbox
 * hands these links to browsers. Such a link is left out, as if the template had none.
 */
export function withoutScriptLinks(content: Record<string, string>): Record<string, string> {
  let safe = content;
  for (const field of LINK_FIELDS) {
    const link = content[field];
    if (link === undefined || !isScriptLink(link)) continue;
    if (safe === content) safe = { ...content };
    delete safe[field];
  }
  return safe;
}
