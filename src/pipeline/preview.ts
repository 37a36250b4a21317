import type { Channel, LayoutRecord, SubscriberRecord, WorkflowRecord } from '../shared/model.ts';
import { evaluateCondition } from '../templates/condition.ts';
import { MESSAGE_BUDGET_MS } from '../templates/engine.ts';
import {
  type RenderScope,
  renderFields,
  type TemplateCache,
  TemplateCompileError,
} from '../templates/render.ts';
import { framed } from './deliver.ts';
import { recipientLocale, subscriberScope } from './recipient-render.ts';
import { variantIndex } from './variants.ts';

/** One step of a preview: its content, or why a send would have made no message or a failed one. */
export interface PreviewChannel {
  channel: Channel;
  content: Record<string, string> | null;
  /** The A/B variant this recipient gets of a step with variants. */
  variant?: string;
  /** The step's `if` was false for this recipient: a send would create no message. */
  skipped?: string;
  /** The render failed: a send would fail this message (`template_error` / `template_timeout`). */
  error?: { reason: 'template_error' | 'template_timeout'; message: string };
}

export interface PreviewInput {
  workflow: WorkflowRecord;
  subscriber: SubscriberRecord;
  data: Record<string, unknown>;
  /** As the event's `"locale"`: over the subscriber's own. */
  locale: string | null;
  defaultTimezone: string;
  now: number;
  /** Per email step with a layout: its current version (null when it is gone). */
  layouts: ReadonlyMap<number, LayoutRecord | null>;
}

/**
 * Renders every step of a workflow for one recipient as a delivery would (recipient-render.ts:
 * the same scope, locale resolution, filters, conditions and render budget), and writes nothing.
 * Consent, quiet hours and addresses are not applied: a preview shows the copy.
 */
export function previewWorkflow(templates: TemplateCache, input: PreviewInput): PreviewChannel[] {
  const { workflow, subscriber } = input;
  const scope: RenderScope = { data: input.data, subscriber: subscriberScope(subscriber), actor: null };
  const { conditions } = templates.compiled(workflow);
  const { localized, renderLocale } = recipientLocale(
    templates,
    workflow,
    input.locale,
    subscriber,
    input.defaultTimezone,
    input.now,
  );
  return workflow.definition.channels.map((step, index): PreviewChannel => {
    const channel = step.channel;
    try {
      const condition = conditions?.[index];
      if (condition instanceof TemplateCompileError) throw condition;
      if (condition && !evaluateCondition(condition, scope, MESSAGE_BUDGET_MS))
        return { channel, content: null, skipped: `condition false: ${step.if}` };
      const arm = variantIndex(step, subscriber.id, workflow.key);
      const fields = localized.steps[index]![arm]!;
      if (fields instanceof TemplateCompileError) throw fields;
      let content = renderFields(fields, scope, undefined, MESSAGE_BUDGET_MS, renderLocale);
      if (step.layout !== undefined && step.channel === 'email')
        content = framed(content, step.layout, input.layouts.get(index));
      const variant = step.variants?.[arm]?.name;
      return variant === undefined ? { channel, content } : { channel, content, variant };
    } catch (error) {
      const reason = (error as Error).name === 'TemplateTimeout' ? 'template_timeout' : 'template_error';
      return { channel, content: null, error: { reason, message: (error as Error).message.split('\n')[0]! } };
    }
  });
}
