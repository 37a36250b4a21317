/**
 * Open and click tracking in an email's HTML part (docs/tracking.md): every absolute http(s)
 * `href` of an `<a>` or `<area>` handed to `click` (which returns the tracked URL, or null to
 * leave that link alone), and a 1×1 pixel added at the end of the body. Pure string work: the
 * pipeline decides what to track and signs the URLs (src/pipeline/tracking.ts).
 *
 * The HTML is scanned, not parsed into a tree and printed again: everything but the rewritten
 * attribute values stays byte for byte what the template rendered. Comments and the raw-text
 * elements (`script`, `style`, `textarea`, `title`) are stepped over, so a link-like string in
 * them is never touched.
 */
export interface HtmlTracking {
  /** The tracked URL for an absolute http(s) target (normalised as `URL.href`), or null. */
  click?: (target: string) => string | null;
  /** The open pixel's URL. */
  pixel?: string;
}

// A tag's attributes: each part is told apart by its first character, and a quote or tag left
// open runs to the end of the input instead of failing — so every match that starts succeeds,
// and the scan stays linear on any input (a failing match retried at each `<a` is quadratic).
const ATTRIBUTES = `(?:[^>"']|"[^"]*(?:"|$)|'[^']*(?:'|$))*(?:>|$)`;
const MARKUP = new RegExp(
  `<!--[\\s\\S]*?(?:-->|$)|<(script|style|textarea|title)\\b${ATTRIBUTES}[\\s\\S]*?(?:<\\/\\1\\s*>|$)|<(?:a|area)(?=[\\s/>])${ATTRIBUTES}`,
  'gi',
);

// One attribute: a name, and maybe `=` and a value (double-, single- or unquoted).
const ATTRIBUTE = /[^\s"'>/=]+(?:\s*=\s*("[^"]*"|'[^']*'|[^\s"'=<>`]+))?/y;

const NAMED: Record<string, string> = { amp: '&', lt: '<', gt: '>', quot: '"', apos: "'" };

/** An attribute value as a browser reads it (the character references URLs meet; others stay). */
function decodeAttribute(value: string): string {
  return value.replace(/&(#[0-9]{1,7}|#x[0-9a-f]{1,6}|[a-z]+);/gi, (whole, ref: string) => {
    if (ref[0] !== '#') return NAMED[ref.toLowerCase()] ?? whole;
    const code = ref[1] === 'x' || ref[1] === 'X' ? Number.parseInt(ref.slice(2), 16) : Number(ref.slice(1));
    return code > 0 && code <= 0x10ffff ? String.fromCodePoint(code) : whole;
  });
}

function escapeAttribute(value: string): string {
  return value.replace(/&/g, '&amp;').replace(/"/g, '&quot;').replace(/</g, '&lt;');
}

/** The absolute http(s) URL an href names (leading and trailing spaces dropped, as browsers do), or null. */
function httpTarget(href: string): string | null {
  const trimmed = href.trim();
  if (!URL.canParse(trimmed)) return null;
  const url = new URL(trimmed);
  return url.protocol === 'http:' || url.protocol === 'https:' ? url.href : null;
}

/** The tag with its first `href` tracked (a browser uses the first of duplicates), or as it was. */
function trackTag(tag: string, click: (target: string) => string | null): string {
  // A tag the input ends in the middle of is no tag to a browser either.
  if (!tag.endsWith('>')) return tag;
  // Past `<a` / `<area`; the closing `>` is never part of an attribute.
  let at = /^<[a-z]+/i.exec(tag)![0].length;
  while (at < tag.length - 1) {
    const char = tag[at]!;
    if (/[\s/]/.test(char)) {
      at++;
      continue;
    }
    ATTRIBUTE.lastIndex = at;
    const match = ATTRIBUTE.exec(tag);
    if (!match) {
      at++;
      continue;
    }
    at = ATTRIBUTE.lastIndex;
    const name = /^[^\s=]+/.exec(match[0])![0].toLowerCase();
    if (name !== 'href') continue;
    const raw = match[1];
    if (raw === undefined) return tag;
    const quoted = raw[0] === '"' || raw[0] === "'";
    const target = httpTarget(decodeAttribute(quoted ? raw.slice(1, -1) : raw));
    const tracked = target === null ? null : click(target);
    if (tracked === null) return tag;
    const start = at - raw.length;
    return `${tag.slice(0, start)}"${escapeAttribute(tracked)}"${tag.slice(at)}`;
  }
  return tag;
}

/** `html` with its links and pixel tracked as `tracking` says. */
export function trackHtml(html: string, tracking: HtmlTracking): string {
  const { click, pixel } = tracking;
  let tracked = click
    ? html.replace(MARKUP, (markup, rawText: string | undefined) =>
        rawText !== undefined || markup.startsWith('<!--') ? markup : trackTag(markup, click),
      )
    : html;
  if (pixel) {
    const img = `<img src="${escapeAttribute(pixel)}" width="1" height="1" alt="" style="display:block;width:1px;height:1px;border:0" />`;
    // Inside the body when there is one (before its last `</body>`), else at the very end.
    let close = -1;
    for (const found of tracked.matchAll(/<\/body\s*>/gi)) close = found.index;
    tracked = close >= 0 ? `${tracked.slice(0, close)}${img}${tracked.slice(close)}` : `${tracked}${img}`;
  }
  return tracked;
}
