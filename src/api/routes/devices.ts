import type { FastifyInstance } from 'fastify';
import Type from 'typebox';
import type { ApiContext } from '../context.ts';
import { OnePageQuery, refuseCursor } from '../cursors.ts';
import { checkDevice, type DeviceBody as DeviceInputBody } from '../device-input.ts';
import { ApiError, notFound, validationError } from '../errors.ts';
import { DeviceBody, Id } from '../schemas.ts';
import { refuseBlockedTargets } from '../targets.ts';
import { deviceView } from '../views.ts';

/**
 * Most devices one subscriber may hold, deactivated ones included (DELETE frees a place): enough
 * for every phone, tablet and browser a person uses, and a bound on the pushes one event makes.
 */
export const DEVICES_PER_SUBSCRIBER = 100;

export async function deviceRoutes(app: FastifyInstance, context: ApiContext): Promise<void> {
  const { store, providers } = context;
  const deviceParams = Type.Object({ subscriberId: Id, deviceId: Id });

  app.put(
    '/v1/subscribers/:subscriberId/devices/:deviceId',
    { schema: { params: deviceParams, body: DeviceBody } },
    async (request) => {
      const { subscriberId, deviceId } = request.params as { subscriberId: string; deviceId: string };
      const checked = checkDevice(request.body as DeviceInputBody);
      if (!checked.ok) throw validationError(checked.details);
      const { token, subscription } = checked.fields;
      // Web push endpoints are hosts a tenant names: the private-target rule applies as for
      // integrations (literals and localhost now; names after DNS, at every send).
      if (subscription) {
        const { hostname: host, port } = new URL(subscription.endpoint);
        refuseBlockedTargets(providers.outbound, [{ host, port, path: 'subscription.endpoint' }]);
      }
      const { platform } = request.body as DeviceInputBody;
      const result = await store.upsertDevice(
        { tenantId: request.tenantId, subscriberId, id: deviceId, platform, token, subscription },
        Date.now(),
        DEVICES_PER_SUBSCRIBER,
      );
      if (!result.ok) {
        const message = `subscriber "${subscriberId}" holds ${result.limit} devices, the most one may hold; delete one first`;
        throw new ApiError('unprocessable', message, [{ path: 'deviceId', message }]);
      }
      return deviceView(result.device);
    },
  );

  app.get(
    '/v1/subscribers/:subscriberId/devices',
    { schema: { params: Type.Object({ subscriberId: Id }), querystring: OnePageQuery } },
    async (request) => {
      const { subscriberId } = request.params as { subscriberId: string };
      refuseCursor((request.query as { cursor?: string }).cursor);
      if (!(await store.getSubscriber(request.tenantId, subscriberId)))
        throw notFound('subscriber', subscriberId);
      const devices = await store.listDevices(request.tenantId, subscriberId);
      // At most DEVICES_PER_SUBSCRIBER: one page, always.
      return { items: devices.map(deviceView), nextCursor: null };
    },
  );

  app.delete(
    '/v1/subscribers/:subscriberId/devices/:deviceId',
    { schema: { params: deviceParams } },
    async (request, reply) => {
      const { subscriberId, deviceId } = request.params as { subscriberId: string; deviceId: string };
      if (!(await store.deleteDevice(request.tenantId, subscriberId, deviceId)))
        throw notFound('device', `${subscriberId}/${deviceId}`);
      return reply.status(204).send();
    },
  );
}
