import type { FastifyInstance } from 'fastify';
import { PRESENCE_AWARE_CHANNELS } from '../../pipeline/skip-if-online.ts';
import { DIGEST_WINDOW_MAX_MS, DIGEST_WINDOW_MIN_MS, digestWindowMs } from '../../policy/digest.ts';
import type { WorkflowDefinition } from '../../shared/model.ts';
import { parseDuration } from '../../shared/time.ts';
import { conditionError } from '../../templates/condition.ts';
import { compileMjml, MJML_FIELD } from '../../templates/mjml.ts';
import { templateErrors } from '../../templates/render.ts';
import type { ApiContext } from '../context.ts';
import { ApiError, type ErrorDetail, notFound, validationError } from '../errors.ts';
import { IdParams, WorkflowBody } from '../schemas.ts';
import { flattenTemplateActions } from '../template-actions.ts';
import { unbuiltWorkflowSettings } from '../unbuilt-settings.ts';
import { workflowView } from '../views.ts';

/** Template and condition syntax is checked when the workflow is saved, not when the first event fails. */
function templateDetails(body: WorkflowBody): ErrorDetail[] {
  return body.channels.flatMap((step, i) => {
    const details: ErrorDetail[] = templateErrors(step.template).map((e) => ({
      path: `channels[${i}].template.${e.field}`,
      message: e.message,
    }));
    const condition = step.if === undefined ? null : conditionError(step.if);
    if (condition !== null) details.push({ path: `channels[${i}].if`, message: condition });
    if (step.skipIfOnline && !PRESENCE_AWARE_CHANNELS.has(step.channel))
      details.push({
        path: `channels[${i}].skipIfOnline`,
        message: 'applies to push, webpush, sms and email steps only',
      });
    return details;
  });
}

/** The longest `fallback.after`: a fallback is for a message that should have arrived, not a reminder. */
export const FALLBACK_AFTER_MAX_MS = 30 * 86_400_000;

/**
 * A fallback step falls back from the step before it, so the first step cannot have one; and a
 * delivery has one message per channel, so a fallback's channel must be new to the workflow.
 */
function fallbackDetails(body: WorkflowBody): ErrorDetail[] {
  return body.channels.flatMap((step, i) => {
    if (!step.fallback) return [];
    if (i === 0)
      return [
        { path: 'channels[0].fallback', message: 'the first step has no earlier channel to fall back from' },
      ];
    const details: ErrorDetail[] = [];
    if (body.channels.slice(0, i).some((earlier) => earlier.channel === step.channel))
      details.push({
        path: `channels[${i}].channel`,
        message: `a fallback step needs a channel no earlier step uses (${step.channel} is used before it)`,
      });
    if ((parseDuration(step.fallback.after) ?? Number.POSITIVE_INFINITY) > FALLBACK_AFTER_MAX_MS)
      details.push({ path: `channels[${i}].fallback.after`, message: 'must be at most 30d' });
    return details;
  });
}

/**
 * Compiles email steps' MJML into their `html` (once per workflow version: the stored definition
 * carries both); answers what does not compile. MJML is for email steps only.
 */
async function compileMjmlSteps(body: WorkflowBody): Promise<ErrorDetail[]> {
  const details: ErrorDetail[] = [];
  for (const [i, step] of body.channels.entries()) {
    const source = step.template[MJML_FIELD];
    if (source === undefined) continue;
    const path = `channels[${i}].template.${MJML_FIELD}`;
    if (step.channel !== 'email') {
      details.push({ path, message: 'is for email steps only' });
      continue;
    }
    const compiled = await compileMjml(source);
    if (compiled.ok) step.template.html = compiled.html;
    else details.push({ path, message: compiled.message });
  }
  return details;
}

/** A digest's window must be one Tidings can keep, and its key a template that parses. */
function digestDetails(body: WorkflowBody): ErrorDetail[] {
  const digest = body.digest;
  if (!digest) return [];
  const details: ErrorDetail[] = [];
  if (digestWindowMs(digest.window) === null)
    details.push({
      path: 'digest.window',
      message: `must be from ${DIGEST_WINDOW_MIN_MS / 1000}s to ${DIGEST_WINDOW_MAX_MS / 86_400_000}d`,
    });
  if (digest.key !== undefined)
    for (const e of templateErrors({ key: digest.key }))
      details.push({ path: 'digest.key', message: e.message });
  return details;
}

export async function workflowRoutes(app: FastifyInstance, context: ApiContext): Promise<void> {
  const { store } = context;
  const params = IdParams('key');

  app.put(
    '/v1/workflows/:key',
    {
      schema: { params, body: WorkflowBody },
      // `actions: [{label, url}]` becomes flat template fields before the schema (strings only) sees it.
      preValidation: async (request) => {
        const unbuilt = unbuiltWorkflowSettings(request.body);
        if (unbuilt.length > 0)
          throw new ApiError('unprocessable', `${unbuilt[0]!.path} ${unbuilt[0]!.message}`, unbuilt);
        const problems = flattenTemplateActions(request.body);
        if (problems.length > 0) throw validationError(problems);
      },
    },
    async (request) => {
      const { key } = request.params as { key: string };
      const body = request.body as WorkflowBody;
      const mjml = await compileMjmlSteps(body);
      if (mjml.length > 0) throw validationError(mjml);
      const details = [...templateDetails(body), ...fallbackDetails(body), ...digestDetails(body)];
      if (details.length > 0) throw validationError(details);
      return workflowView(
        await store.putWorkflow(request.tenantId, key, body as WorkflowDefinition, Date.now()),
      );
    },
  );

  app.get('/v1/workflows/:key', { schema: { params } }, async (request) => {
    const { key } = request.params as { key: string };
    const workflow = await store.getWorkflow(request.tenantId, key);
    if (!workflow) throw notFound('workflow', key);
    return workflowView(workflow);
  });
}
