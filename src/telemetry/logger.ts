import pino, { type DestinationStream, type Logger } from 'pino';

export type { Logger };

/**
 * The process logger. Credentials never reach the logs: authorization headers, tokens, keys and
 * secrets are redacted wherever they appear.
 */
export function createLogger(level: string, destination?: DestinationStream): Logger {
  return pino(
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
    destination,
  );
}

/** A logger that writes nothing (tests, library use). */
export function silentLogger(): Logger {
  return pino({ level: 'silent' });
}
