import type { ErrorDetail } from './errors.ts';

/**
 * Workflow settings the contract (docs/api.md) names but Tidings does not do yet. They are
 * refused with 422 naming the field, so that nobody stores one believing it works; a field
 * the contract does not name at all stays a 400 ("is not a known field").
 */
const WORKFLOW_FIELDS: Record<string, string> = {
  messages: 'ICU messages',
  defaultLocale: 'template locales',
};
const STEP_FIELDS: Record<string, string> = {
  locales: 'template locales',
  variants: 'template variants',
  layout: 'email layouts',
};

function refusal(feature: string): string {
  return `is not supported yet (${feature} are not built); remove it`;
}

export function unbuiltWorkflowSettings(body: unknown): ErrorDetail[] {
  if (typeof body !== 'object' || body === null) return [];
  const details: ErrorDetail[] = [];
  for (const [field, feature] of Object.entries(WORKFLOW_FIELDS))
    if (Object.hasOwn(body, field)) details.push({ path: field, message: refusal(feature) });
  const channels = (body as { channels?: unknown }).channels;
  if (Array.isArray(channels))
    channels.forEach((step, i) => {
      if (typeof step !== 'object' || step === null) return;
      for (const [field, feature] of Object.entries(STEP_FIELDS))
        if (Object.hasOwn(step, field))
          details.push({ path: `channels[${i}].${field}`, message: refusal(feature) });
    });
  return details;
}
