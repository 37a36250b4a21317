import type { LayoutRecord } from '../shared/model.ts';

/**
 * Email layouts (API.md "Templates"): an HTML (or MJML, compiled once per version) frame holding
 * `{{ content }}` exactly once, where each email step that names it puts its rendered `html`.
 * A layout is not a template: nothing else in it is rendered, so it sees no event data. The
 * text part is generated from the final HTML when the email is sent.
 */

const CONTENT = /\{\{\s*content\s*\}\}/g;

/** Why compiled layout HTML cannot frame an email, or null. */
export function layoutProblem(html: string): string | null {
  const found = html.match(CONTENT)?.length ?? 0;
  if (found === 0) return 'must hold {{ content }}, where each email goes';
  if (found > 1) return 'must hold {{ content }} once';
  return null;
}

/** `html` framed by `layout` (a function replacement: `$` in the email is not a pattern). */
export function wrapInLayout(layout: LayoutRecord, html: string): string {
  return layout.html.replace(CONTENT, () => html);
}
