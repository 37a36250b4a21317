import { parentPort } from 'node:worker_threads';
import type { MjmlResult } from './mjml.ts';

/** Messages between the API thread (mjml-compiler.ts) and the MJML compiler thread. */
export type ToMjmlThread = { type: 'compile'; id: number; source: string };
export type FromMjmlThread = { type: 'ready' } | { type: 'compiled'; id: number; result: MjmlResult };

// The body of the MJML compiler thread: loads MJML (seconds, so only once per thread), says it
// is ready, then compiles one source at a time. It may be terminated mid-compile (too slow).
const port = parentPort!;
const mjml2html = ((await import('mjml')) as unknown as { default: typeof import('mjml') }).default;

port.on('message', async (message: ToMjmlThread) => {
  const result = await compile(message.source);
  port.postMessage({ type: 'compiled', id: message.id, result } satisfies FromMjmlThread);
});
port.postMessage({ type: 'ready' } satisfies FromMjmlThread);

/** Strict validation, includes ignored (a tenant's template reads no file of the host), no comments. */
async function compile(source: string): Promise<MjmlResult> {
  try {
    const result = await mjml2html(source, {
      validationLevel: 'strict',
      ignoreIncludes: true,
      keepComments: false,
    });
    return result.errors.length > 0 ? firstProblem(result.errors) : { ok: true, html: result.html };
  } catch (error) {
    // Strict validation throws its findings as `errors`; a parse failure is a plain error.
    const errors = (error as { errors?: unknown }).errors;
    if (Array.isArray(errors) && errors.length > 0) return firstProblem(errors);
    return { ok: false, message: (error as Error).message.split('\n')[0] || 'invalid MJML' };
  }
}

/** The first finding, without the file path MJML puts in its formatted message. */
function firstProblem(errors: readonly { line?: number; message?: string }[]): MjmlResult {
  const first = errors[0]!;
  return { ok: false, message: `line ${first.line ?? '?'}: ${first.message ?? 'invalid MJML'}` };
}
