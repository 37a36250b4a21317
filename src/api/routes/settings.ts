import type { FastifyInstance } from 'fastify';
import type { TenantSettingsPatch } from '../../store/port.ts';
import type { ApiContext } from '../context.ts';
import { ApiError } from '../errors.ts';
import { SettingsBody } from '../schemas.ts';
import { tenantSettingsView } from '../views.ts';

/** Settings API.md names that are not built yet: refused, never accepted and silently ignored. */
const NOT_SUPPORTED_YET = ['inboxTabs'] as const;

/** `GET`/`PATCH /v1/settings`: the calling tenant's settings. */
export async function settingsRoutes(app: FastifyInstance, context: ApiContext): Promise<void> {
  const { store } = context;

  app.get('/v1/settings', async (request) =>
    tenantSettingsView(await store.getTenantSettings(request.tenantId)),
  );

  app.patch('/v1/settings', { schema: { body: SettingsBody } }, async (request) => {
    const body = (request.body ?? {}) as TenantSettingsPatch & Record<string, unknown>;
    const unsupported = NOT_SUPPORTED_YET.filter((field) => body[field] !== undefined);
    if (unsupported.length > 0) {
      throw new ApiError(
        'unprocessable',
        `${unsupported.join(' and ')} ${unsupported.length > 1 ? 'are' : 'is'} not supported yet; nothing was changed`,
        unsupported.map((path) => ({ path, message: 'is not supported yet' })),
      );
    }
    const patch: TenantSettingsPatch = {};
    if (body.defaultTimezone !== undefined) patch.defaultTimezone = body.defaultTimezone;
    if (body.dailyCap !== undefined) patch.dailyCap = body.dailyCap;
    return tenantSettingsView(await store.patchTenantSettings(request.tenantId, patch, Date.now()));
  });
}
