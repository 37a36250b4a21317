import type { ErrorDetail } from './errors.ts';

/** At most this many action buttons on an in-app item (API.md). */
const MAX_ACTIONS = 2;

/**
 * An in-app template's `actions: [{"label", "url"}]` (API.md), as the flat string fields templates
 * are made of: `action1Label`/`action1Url`, `action2Label`/`action2Url` — each a Liquid template
 * rendered like any other field, and read back into `actions` by the inbox views. Runs before the
 * body is validated, so the stored definition holds the flat fields (which a PUT also accepts).
 * Answers the problems found, naming `channels[i].template.actions…`; changes nothing then.
 */
export function flattenTemplateActions(body: unknown): ErrorDetail[] {
  const channels = (body as { channels?: unknown } | null)?.channels;
  if (!Array.isArray(channels)) return [];
  const problems: ErrorDetail[] = [];
  const changes: (() => void)[] = [];
  channels.forEach((step, i) => {
    const template = (step as { template?: unknown } | null)?.template;
    if (typeof template !== 'object' || template === null || !('actions' in template)) return;
    const path = `channels[${i}].template.actions`;
    const actions = (template as { actions: unknown }).actions;
    if (!Array.isArray(actions) || actions.length > MAX_ACTIONS) {
      problems.push({ path, message: `must be a list of at most ${MAX_ACTIONS} {"label", "url"}` });
      return;
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
  });
  if (problems.length === 0) for (const change of changes) change();
  return problems;
}
