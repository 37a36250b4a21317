/**
 * A new webhook endpoint would take its tenant past the most it may have (the route's
 * MAX_WEBHOOK_ENDPOINTS). Thrown by putWebhookEndpoint inside the transaction that counts the
 * tenant's endpoints and inserts, so PUTs racing for the last place cannot both take it.
 */
export class WebhookEndpointLimitReached extends Error {
  override name = 'WebhookEndpointLimitReached';
}
