/** The template field holding an email step's MJML source; its compiled HTML becomes `html`. */
export const MJML_FIELD = 'mjml';

export type MjmlResult = { ok: true; html: string } | { ok: false; message: string };

/**
 * Compiles an email step's MJML into HTML, once per workflow version (at `PUT`): Liquid in the
 * source (`{{ subscriber.name }}` in text and attributes) passes through as text and is rendered
 * per message like any `html` template. Includes are ignored — a tenant's template reads no file
 * of the host — and validation is strict, so a malformed template is a 400 at `PUT`, not a
 * broken email at send time.
 */
export async function compileMjml(source: string): Promise<MjmlResult> {
  try {
    const mjml2html = await loadMjml();
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

// MJML and its dependencies take seconds to load: only a process that compiles MJML pays for it,
// and start-up stays fast.
let loading: Promise<typeof import('mjml')> | null = null;
function loadMjml() {
  loading ??= import('mjml').then(
    (module) => (module as unknown as { default: typeof import('mjml') }).default,
  );
  return loading;
}

/** The first finding, without the file path MJML puts in its formatted message. */
function firstProblem(errors: readonly { line?: number; message?: string }[]): MjmlResult {
  const first = errors[0]!;
  return { ok: false, message: `line ${first.line ?? '?'}: ${first.message ?? 'invalid MJML'}` };
}
