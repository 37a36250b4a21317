import type { FastifyInstance } from 'fastify';
import { ApiError } from './errors.ts';

/**
 * Answers a body of any type the scope has no parser for with 415 saying which types it takes
 * (`expected`); an empty body is still no body. The API takes JSON; the one-click unsubscribe and
 * preference page scopes take forms, and say so rather than asking for JSON.
 */
export function refuseOtherBodies(scope: FastifyInstance, expected: string): void {
  if (scope.hasContentTypeParser('*')) scope.removeContentTypeParser('*');
  scope.addContentTypeParser('*', { parseAs: 'string' }, (_request, body, done) => {
    if ((body as string).length === 0) done(null, undefined);
    else done(new ApiError('unsupported_media_type', `send the body as ${expected}`), undefined);
  });
}
