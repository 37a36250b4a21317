import { TenantTurns } from './tenant-turns.ts';

/**
 * MJML compiles share one thread (src/templates/mjml-compiler.ts): each tenant's requests that
 * compile take turns, one at a time with two more waiting (then 429), so one tenant holds at most
 * one place in the thread's queue and every other tenant's compile waits behind at most one of
 * its templates, not a queue full of them.
 */
export const mjmlTurns = new TenantTurns('requests compiling MJML', 2);

/** What one request may spend compiling MJML in all (its templates are each limited to 2 s). */
export const MJML_REQUEST_BUDGET_MS = 5_000;
