/** A command line the user got wrong: printed with the usage, exit code 2. */
export class UsageError extends Error {}

/** Splits `--name value` / `--name=value` options (only `allowed` ones) from positional words. */
export function parseOptions(
  args: string[],
  allowed: readonly string[],
  usage: string,
): { options: Record<string, string>; words: string[] } {
  const options: Record<string, string> = {};
  const words: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const arg = args[i]!;
    if (!arg.startsWith('--')) {
      words.push(arg);
      continue;
    }
    const eq = arg.indexOf('=');
    const name = arg.slice(2, eq < 0 ? undefined : eq);
    const value = eq < 0 ? args[++i] : arg.slice(eq + 1);
    if (!allowed.includes(name)) throw new UsageError(`unknown option --${name}\n\n${usage}`);
    if (value === undefined || value === '') throw new UsageError(`--${name} needs a value\n\n${usage}`);
    options[name] = value;
  }
  return { options, words };
}
