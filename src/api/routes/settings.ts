import type { FastifyInstance } from 'fastify';
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
    return tenantSettingsView(await store.patchTenantSettings(request.tenantId, patch, Date.now()));
  });
}
