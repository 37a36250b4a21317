import type { FastifyInstance } from 'fastify';
import { quietHoursChange } from '../../pipeline/release-deferred.ts';
import { changePreferences } from '../../privacy/consent.ts';
import { MANDATORY_CATEGORIES } from '../../shared/model.ts';
import type { PreferencePatch, Store } from '../../store/port.ts';
import { emptyPreferences, PreferenceKeysExceeded } from '../../store/preference-merge.ts';
import type { ApiContext } from '../context.ts';
import { ApiError, type ErrorDetail, notFound, unprocessableFields, validationError } from '../errors.ts';
import { IdParams, PreferencesBody } from '../schemas.ts';
import { preferencesView } from '../views.ts';

const MANDATORY_LIST = [...MANDATORY_CATEGORIES].join(' and ');

/**
 * Most categories, and most workflows, a subscriber's choices may hold through this API. Opt-outs
 * by unsubscribe link, STOP or complaint are never refused, whatever the count.
 */
export const PREFERENCE_KEYS_MAX = 1_000;

/** Opting a mandatory category out of any channel (`true` and `null` change nothing that matters). */
function mandatoryCategoryOptOuts(patch: PreferencePatch): ErrorDetail[] {
  const details: ErrorDetail[] = [];
  for (const [category, channels] of Object.entries(patch.categories ?? {})) {
    if (!MANDATORY_CATEGORIES.has(category) || !channels) continue;
    for (const [channel, on] of Object.entries(channels)) {
      if (on === false) {
        details.push({
          path: `categories.${category}.${channel}`,
          message: `the ${category} category cannot be opted out of`,
        });
      }
    }
  }
  return details;
}

/** Disabling a workflow whose category is mandatory is the same opt-out by another name. */
async function mandatoryWorkflowOptOuts(store: Store, tenantId: string, patch: PreferencePatch) {
  const disabled = Object.entries(patch.workflows ?? {})
    .filter(([, choice]) => choice?.enabled === false)
    .map(([key]) => key);
  const workflows = await Promise.all(disabled.map((key) => store.getWorkflow(tenantId, key)));
  return workflows.flatMap((workflow): ErrorDetail[] => {
    const category = workflow?.definition.category;
    if (!workflow || !category || !MANDATORY_CATEGORIES.has(category)) return [];
    return [
      {
        path: `workflows.${workflow.key}.enabled`,
        message: `the workflow is in the ${category} category, which cannot be opted out of`,
      },
    ];
  });
}

/**
 * `GET`/`PATCH /v1/subscribers/{id}/preferences` (API.md). Every check runs before the one write,
 * so a refused PATCH changes nothing; the write is committed before the 200, so every send after
 * it sees the new choices.
 */
export async function preferenceRoutes(app: FastifyInstance, context: ApiContext): Promise<void> {
  const { store } = context;
  const params = IdParams('subscriberId');
  const route = '/v1/subscribers/:subscriberId/preferences';

  app.get(route, { schema: { params } }, async (request) => {
    const { subscriberId } = request.params as { subscriberId: string };
    const [subscriber, choices] = await Promise.all([
      store.getSubscriber(request.tenantId, subscriberId),
      store.getPreferences(request.tenantId, subscriberId),
    ]);
    if (!subscriber) throw notFound('subscriber', subscriberId);
    return preferencesView(choices ?? emptyPreferences());
  });

  // An unknown subscriber id is created empty with its choices, as a token or an event for a new
  // id creates it (API.md): a sign-up flow may store consent before the profile exists.
  app.patch(route, { schema: { params, body: PreferencesBody } }, async (request) => {
    const { subscriberId } = request.params as { subscriberId: string };
    const patch = (request.body ?? {}) as PreferencePatch;
    if (patch.quietHours && patch.quietHours.start === patch.quietHours.end) {
      throw validationError([
        { path: 'quietHours.end', message: 'must differ from quietHours.start (an empty window)' },
      ]);
    }
    const refused = [
      ...mandatoryCategoryOptOuts(patch),
      ...(await mandatoryWorkflowOptOuts(store, request.tenantId, patch)),
    ];
    if (refused.length > 0) {
      throw new ApiError(
        'forbidden',
        `the ${MANDATORY_LIST} categories cannot be opted out of: their messages (sign-in codes, ` +
          'password resets, security alerts) always reach the subscriber. Nothing was changed.',
        refused,
      );
    }
    const quietChanged = await quietHoursChange(
      { ...context, log: request.log },
      request.tenantId,
      subscriberId,
      'quietHours' in patch,
    );
    try {
      const choices = await changePreferences(store, {
        tenantId: request.tenantId,
        subscriberId,
        patch,
        now: Date.now(),
        source: 'api',
        detail: 'PATCH /v1/subscribers/{id}/preferences',
        maxKeys: PREFERENCE_KEYS_MAX,
      });
      await quietChanged();
      return preferencesView(choices);
    } catch (error) {
      if (!(error instanceof PreferenceKeysExceeded)) throw error;
      throw unprocessableFields([{ path: error.field, message: `${error.message}; nothing was changed` }]);
    }
  });
}
