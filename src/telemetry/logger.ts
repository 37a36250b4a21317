import { createRequire } from 'node:module';
import pino, { type DestinationStream, type Logger } from 'pino';

export type { Logger };

/** How log lines are written: one JSON object per line, or pino-pretty's coloured lines for people. */
export type LogFormat = 'json' | 'pretty';

/**
 * TIDINGS_LOG_FORMAT when set, else pretty for a person at a terminal (stdout a TTY, not CI) and
 * JSON for everything that collects logs (pipes, files, journald, CI).
 */
export function resolveLogFormat(
  chosen: LogFormat | null,
  stdoutIsTty: boolean | undefined,
  env: Record<string, string | undefined> = process.env,
): LogFormat {
  if (chosen !== null) return chosen;
  const ci = env.CI !== undefined && env.CI !== '' && env.CI !== 'false' && env.CI !== '0';
  return stdoutIsTty === true && !ci ? 'pretty' : 'json';
}

const requireHere = createRequire(import.meta.url);

/**
 * pino-pretty as a synchronous stream on stdout (lines are out before a `process.exit`), or null
 * when the package is missing (an install without it still logs, as JSON).
 */
function prettyStream(): DestinationStream | null {
  let pretty: (options: Record<string, unknown>) => DestinationStream;
  try {
    pretty = requireHere('pino-pretty');
  } catch {
    return null;
  }
  return pretty({
    sync: true,
    translateTime: 'SYS:HH:MM:ss.l',
    ignore: 'pid,hostname,service',
    singleLine: true,
  });
}

/**
 * The process logger. Credentials never reach the logs: authorization headers, tokens, keys and
 * secrets are redacted wherever they appear (before either format writes them).
 */
export function createLogger(
  level: string,
  destination?: DestinationStream,
  format: LogFormat = 'json',
): Logger {
  const pretty = destination === undefined && format === 'pretty' ? prettyStream() : null;
  const logger = pino(
    {
      level,
      base: { service: 'tidings' },
      redact: {
        paths: [
          'req.headers.authorization',
          'req.query.token',
          '*.apiKey',
          '*.token',
          '*.secret',
          '*.password',
          '*.pass',
          '*.credentials',
          '*.privateKey',
        ],
        censor: '[redacted]',
      },
      serializers: {
        // Streams take subscriber tokens in the query string; keep them out of logged URLs.
        req: (req: { method?: string; url?: string }) => ({
          method: req.method,
          url: req.url?.replace(/([?&]token=)[^&]*/g, '$1[redacted]'),
        }),
      },
    },
    destination ?? pretty ?? undefined,
  );
  if (destination === undefined && format === 'pretty' && pretty === null)
    logger.warn('pino-pretty is not installed: logs stay JSON (npm install pino-pretty)');
  return logger;
}

/** A logger that writes nothing (tests, library use). */
export function silentLogger(): Logger {
  return pino({ level: 'silent' });
}
