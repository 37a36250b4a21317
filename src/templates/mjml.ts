import { MjmlCompiler } from './mjml-compiler.ts';

/** The template field holding an email step's MJML source; its compiled HTML becomes `html`. */
export const MJML_FIELD = 'mjml';

/**
 * A compile's outcome. A failure without `cause` is the template's own fault (its first problem,
 * with its line); `too_slow` is too, for a template that takes longer than the time limit
 * (mjml-compiler.ts) to compile; `busy` is the server's: compiles are queued too deep, retry.
 */
export type MjmlResult =
  | { ok: true; html: string }
  | { ok: false; message: string; cause?: 'too_slow' | 'busy' };

// One compiler thread for the process, started by its first compile.
const compiler = new MjmlCompiler();

/**
 * Compiles an email step's MJML into HTML, once per workflow version (at `PUT`): Liquid in the
 * source (`{{ subscriber.name }}` in text and attributes) passes through as text and is rendered
 * per message like any `html` template. Includes are ignored — a tenant's template reads no file
 * of the host — and validation is strict, so a malformed template is a 400 at `PUT`, not a
 * broken email at send time. Compiling runs on a thread of its own, under a time limit, so an
 * expensive template never stalls other requests.
 *
 * @example
 * const compiled = await compileMjml(source);
 * if (!compiled.ok) throw validationError([{ path: 'mjml', message: compiled.message }]);
 */
export function compileMjml(source: string): Promise<MjmlResult> {
  return compiler.compile(source);
}
