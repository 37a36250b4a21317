/** ANSI colours for what the CLI prints for people: on a terminal only, never with NO_COLOR. */
export interface Paint {
  readonly on: boolean;
  green(text: string): string;
  red(text: string): string;
  yellow(text: string): string;
  cyan(text: string): string;
  dim(text: string): string;
}

const wrap = (open: number, close: number) => (text: string) => `\u001b[${open}m${text}\u001b[${close}m`;

/**
 * Colours when `stream` is a terminal and NO_COLOR (https://no-color.org) is unset or empty;
 * FORCE_COLOR=1 turns them on anywhere (a pager that understands them, tests).
 */
export function paintFor(
  stream: { isTTY?: boolean },
  env: Record<string, string | undefined> = process.env,
): Paint {
  const forced = env.FORCE_COLOR !== undefined && env.FORCE_COLOR !== '' && env.FORCE_COLOR !== '0';
  const on = !env.NO_COLOR && (forced || stream.isTTY === true);
  const same = (text: string) => text;
  return {
    on,
    green: on ? wrap(32, 39) : same,
    red: on ? wrap(31, 39) : same,
    yellow: on ? wrap(33, 39) : same,
    cyan: on ? wrap(36, 39) : same,
    dim: on ? wrap(2, 22) : same,
  };
}

/**
 * Text from tenants and providers (ids, reasons, provider errors) as the CLI prints it: control
 * characters (an escape sequence would move the operator's cursor, retitle the window or hide
 * text) print as visible escapes.
 */
// biome-ignore lint/suspicious/noControlCharactersInRegex: matching control characters is the point
const CONTROL = /[\u0000-\u001f\u007f-\u009f]/g;
export const printable = (text: string) =>
  text.replace(CONTROL, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
