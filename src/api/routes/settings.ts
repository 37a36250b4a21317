import type { FastifyInstance } from 'fastify';
import { defaultZoneChange } from '../../pipeline/release-deferred.ts';
import type { TenantSettingsPatch } from '../../store/port.ts';
import type { ApiContext } from '../context.ts';
import { SettingsBody } from '../schemas.ts';
import { tenantSettingsView } from '../views.ts';

/** `GET`/`PATCH /v1/settings`: the calling tenant's settings. */
export async function settingsRoutes(app: FastifyInstance, context: ApiContext): Promise<void> {
  const { store } = context;

  app.get('/v1/settings', async (request) =>
    tenantSettingsView(await store.getTenantSettings(request.tenantId)),
  );

  app.patch('/v1/settings', { schema: { body: SettingsBody } }, async (request) => {
    const body = (request.body ?? {}) as TenantSettingsPatch;
    const patch: TenantSettingsPatch = {};
    if (body.defaultTimezone !== undefined) patch.defaultTimezone = body.defaultTimezone;
    if (body.dailyCap !== undefined) patch.dailyCap = body.dailyCap;
    if (body.inboxTabs !== undefined) patch.inboxTabs = body.inboxTabs;
    const before =
      patch.defaultTimezone === undefined ? null : await store.getTenantSettings(request.tenantId);
    const after = await store.patchTenantSettings(request.tenantId, patch, Date.now());
    if (before) {
      // Subscribers without a zone of their own keep quiet hours in this one: what those held may go sooner.
      try {
        await defaultZoneChange(
          context,
          request.tenantId,
          before.defaultTimezone,
          after.defaultTimezone,
          Date.now(),
        );
      } catch (error) {
        request.log.warn({ err: error }, 'held messages not released after a change of the default zone');
      }
    }
    return tenantSettingsView(after);
  });
}
