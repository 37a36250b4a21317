import { BADGE_DIGITS } from '../channels/push/template-rules.ts';
import { MAX_DATA_DEPTH } from '../templates/json-data.ts';
import type { ErrorDetail } from './errors.ts';

/** At most this many action buttons on an in-app item (API.md). */
const MAX_ACTIONS = 2;

/** The flat fields `actions` becomes: a template giving `actions` may not give these as well. */
const ACTION_FIELD = /^action[12](Label|Url)$/;

/** Every template object of a step with its path: the default, each locale's, each variant's and theirs. */
function templatesOf(step: unknown, i: number): [template: unknown, path: string][] {
  if (typeof step !== 'object' || step === null) return [];
  const found: [unknown, string][] = [];
  const withLocales = (owner: Record<string, unknown>, at: string) => {
    if ('template' in owner) found.push([owner.template, `${at}.template`]);
    const locales = owner.locales;
    if (typeof locales === 'object' && locales !== null && !Array.isArray(locales))
      for (const [tag, fields] of Object.entries(locales)) found.push([fields, `${at}.locales.${tag}`]);
  };
  withLocales(step as Record<string, unknown>, `channels[${i}]`);
  const variants = (step as { variants?: unknown }).variants;
  if (Array.isArray(variants))
    variants.forEach((variant, v) => {
      if (typeof variant === 'object' && variant !== null)
        withLocales(variant as Record<string, unknown>, `channels[${i}].variants[${v}]`);
    });
  return found;
}

/**
 * An in-app template's `actions: [{"label", "url"}]` (API.md), as the flat string fields templates
 * are made of: `action1Label`/`action1Url`, `action2Label`/`action2Url` — each a Liquid template
 * rendered like any other field, and read back into `actions` by the inbox views. Runs before the
 * body is validated, so the stored definition holds the flat fields (which a PUT also accepts).
 * Every template of a step takes it: the default one, a locale's (labels in the reader's
 * language) and a variant's. Answers the problems found, naming `….actions…`; changes nothing then.
 */
export function flattenTemplateActions(body: unknown): ErrorDetail[] {
  const channels = (body as { channels?: unknown } | null)?.channels;
  if (!Array.isArray(channels)) return [];
  const problems: ErrorDetail[] = [];
  const changes: (() => void)[] = [];
  const templates = channels.flatMap((step, i) => templatesOf(step, i));
  for (const [template, at] of templates) {
    if (typeof template !== 'object' || template === null || !('actions' in template)) continue;
    const path = `${at}.actions`;
    const actions = (template as { actions: unknown }).actions;
    if (!Array.isArray(actions) || actions.length > MAX_ACTIONS) {
      problems.push({ path, message: `must be a list of at most ${MAX_ACTIONS} {"label", "url"}` });
      continue;
    }
    // Both would say what the buttons are, and one would silently replace the other.
    const flat = Object.keys(template).filter((field) => ACTION_FIELD.test(field));
    if (flat.length > 0) {
      problems.push({ path, message: `cannot be given with ${flat.join(', ')}: give one or the other` });
      continue;
    }
    const fields: Record<string, string> = {};
    actions.forEach((action, n) => {
      const { label, url, ...rest } = (action ?? {}) as Record<string, unknown>;
      if (typeof label !== 'string' || typeof url !== 'string' || Object.keys(rest).length > 0) {
        problems.push({ path: `${path}[${n}]`, message: 'must be {"label": string, "url": string}' });
        return;
      }
      fields[`action${n + 1}Label`] = label;
      fields[`action${n + 1}Url`] = url;
    });
    changes.push(() => {
      const record = template as Record<string, unknown>;
      delete record.actions;
      Object.assign(record, fields);
    });
  }
  if (problems.length === 0) for (const change of changes) change();
  return problems;
}

/**
 * A push or web push template's fields that API.md writes as JSON values, as the text every
 * template field is: a `badge` given as a number (`"badge": 3`; "a number, or `"unread"`") becomes
 * `"3"`, and a `data` given as an object (`"data": {"orderId": "{{ data.id }}"}`; "`data`
 * (JSON)") its JSON text, which renders value by value (src/templates/json-data.ts). Runs before
 * the body is validated, like {@link flattenTemplateActions}; any other value is left for the
 * schema to refuse, naming the field. Answers the problems found: an object too deep to write.
 */
export function pushFieldsAsText(body: unknown): ErrorDetail[] {
  const problems: ErrorDetail[] = [];
  const channels = (body as { channels?: unknown } | null)?.channels;
  if (!Array.isArray(channels)) return problems;
  channels.forEach((step, i) => {
    const channel = (step as { channel?: unknown } | null)?.channel;
    if (channel !== 'push' && channel !== 'webpush') return;
    for (const [template, path] of templatesOf(step, i)) {
      if (typeof template !== 'object' || template === null) continue;
      const record = template as Record<string, unknown>;
      const { badge, data } = record;
      if (typeof badge === 'number' && BADGE_DIGITS.test(String(badge))) record.badge = String(badge);
      if (typeof data === 'object' && data !== null && !Array.isArray(data)) {
        try {
          record.data = JSON.stringify(data);
        } catch {
          // Nested past V8's stack (and far past MAX_DATA_DEPTH).
          problems.push({
            path: `${path}.data`,
            message: `nests objects and arrays deeper than ${MAX_DATA_DEPTH} levels`,
          });
        }
      }
    }
  });
  return problems;
}
