import { checkTextPart } from '../channels/email/content.ts';
import { digestScope, digestWindowMs } from '../policy/digest.ts';
import type {
  Channel,
  LayoutRecord,
  SubscriberRecord,
  WorkflowChannelStep,
  WorkflowRecord,
} from '../shared/model.ts';
import { evaluateCondition } from '../templates/condition.ts';
import { MESSAGE_BUDGET_MS } from '../templates/engine.ts';
import {
  MAX_MESSAGE_CHARS,
  type RenderScope,
  renderFields,
  type TemplateCache,
  TemplateCompileError,
} from '../templates/render.ts';
import { framed } from './deliver.ts';
import { type LinkKeys, templateLinks } from './links.ts';
import { PreviewPacing } from './preview-pacing.ts';
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
  /** As the event's `"actor"`: what templates and step conditions see as `actor` (null: none). */
  actor?: string | null;
  defaultTimezone: string;
  now: number;
  /** Per email step with a layout: its current version (null when it is gone). */
  layouts: ReadonlyMap<number, LayoutRecord | null>;
  /** Where `{{ links.unsubscribe }}` and `{{ links.preferences }}` point, signed as a send signs them. */
  links?: LinkKeys;
}

/**
 * What one preview may answer in all, every step's content together, in bytes of JSON: two
 * messages at the largest size a send renders (MAX_MESSAGE_CHARS), when each character is one
 * byte. A send writes each message on its own; a preview answers all of its steps in one body,
 * and 20 steps of 2 MB each made one 1 MB request answer 40 MB. Bytes, not characters: a control
 * character is six bytes in JSON (`\u0001`), and a 3 KB request looping one answered 23 MB.
 */
export const PREVIEW_MAX_BYTES = 2 * MAX_MESSAGE_CHARS;

/** The preview's steps rendered more than PREVIEW_MAX_BYTES together (a 422 naming the step). */
export class PreviewTooLarge extends Error {
  constructor(
    readonly step: number,
    readonly bytes: number,
  ) {
    super(
      `the preview's content reaches ${bytes} bytes of JSON at step ${step}, over the ${PREVIEW_MAX_BYTES} a preview may answer in all (a send renders each message on its own, up to ${MAX_MESSAGE_CHARS} characters)`,
    );
    this.name = 'PreviewTooLarge';
  }
}

/**
 * Lets other requests run before a step's render (each may take its whole render budget, and its
 * one retry: ~100 ms). After a slow step of the same tenant the event loop is left free for a
 * pause rather than one turn: a request needs a few turns (accept, read, answer), and with a
 * single turn between steps each of those cost it a whole step of another tenant's render — five
 * queued one-step previews held another tenant's GET 0.4 s. After any slow step the loop gets its
 * pause whoever previews next; beyond it, pauses are per tenant (PreviewPacing): another tenant's
 * fast previews do not keep pausing for them.
 */
const pacing = new PreviewPacing();

/** The bytes a step's content adds to the answer, as JSON. */
const contentBytes = (content: Record<string, string> | null) =>
  content ? Buffer.byteLength(JSON.stringify(content)) : 0;

/**
 * Whether a send of the workflow gathers its events into a digest (deliver.ts): it has a digest
 * with a usable window and a step that is no fallback (a fallback step follows a digest's message
 * and renders the same digest).
 */
function digestsOneEvent(workflow: WorkflowRecord): boolean {
  const { digest, channels } = workflow.definition;
  return (
    digest !== undefined && digestWindowMs(digest.window) !== null && channels.some((step) => !step.fallback)
  );
}

/**
 * Renders every step of a workflow for one recipient as a delivery would (recipient-render.ts:
 * the same scope, locale resolution, filters, conditions and render budget), and writes nothing.
 * Consent, quiet hours and addresses are not applied: a preview shows the copy. A digest workflow
 * renders as the digest of this one event, as its close would send it. It runs on the
 * API thread, so it gives the event loop back between steps: a workflow of many slow steps holds
 * other requests up for one step's budget at most, not for all of them.
 */
export async function previewWorkflow(
  templates: TemplateCache,
  input: PreviewInput,
): Promise<PreviewChannel[]> {
  const { workflow, subscriber } = input;
  const scope: RenderScope = {
    data: input.data,
    subscriber: subscriberScope(subscriber),
    actor: input.actor ?? null,
  };
  // The links a send's templates see (deliver.ts), each signed only when a template reads it.
  scope.links = templateLinks(
    input.links,
    {
      tenantId: workflow.tenantId,
      subscriberId: subscriber.id,
      subscriberCreatedAt: subscriber.createdAt,
      workflow: workflow.key,
      category: workflow.definition.category,
    },
    input.now,
  );
  if (digestsOneEvent(workflow)) {
    // A send of this one event is a digest of it at the window's close: `count` 1, `events` its data.
    const { count, events } = digestScope([{ id: 'preview', createdAt: input.now, data: input.data }]);
    scope.count = count;
    scope.events = events;
  }
  const { conditions } = templates.compiled(workflow);
  const { localized, renderLocale } = recipientLocale(
    templates,
    workflow,
    input.locale,
    subscriber,
    input.defaultTimezone,
    input.now,
  );
  const previewStep = (step: WorkflowChannelStep, index: number): PreviewChannel => {
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
      if (step.channel === 'email') checkTextPart(content);
      const variant = step.variants?.[arm]?.name;
      return variant === undefined ? { channel, content } : { channel, content, variant };
    } catch (error) {
      const reason = (error as Error).name === 'TemplateTimeout' ? 'template_timeout' : 'template_error';
      return { channel, content: null, error: { reason, message: (error as Error).message.split('\n')[0]! } };
    }
  };
  const channels: PreviewChannel[] = [];
  let bytes = 0;
  for (const [index, step] of workflow.definition.channels.entries()) {
    // Before the first step too: a tenant's previews run in turns (TenantTurns), each starting as
    // the one before ends, and without this a one-step preview rendered in the same macrotask as
    // the end of the one before — five queued held every other request ~500 ms.
    await pacing.giveBack(workflow.tenantId);
    const previewed = pacing.step(workflow.tenantId, () => previewStep(step, index));
    bytes += contentBytes(previewed.content);
    if (bytes > PREVIEW_MAX_BYTES) throw new PreviewTooLarge(index, bytes);
    channels.push(previewed);
  }
  return channels;
}
