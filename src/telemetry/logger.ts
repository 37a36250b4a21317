import pino, { type Logger } from 'pino';

export type { Logger };

/**
 * The process logger. Credentials never reach the logs: authorization headers, tokens, keys and
 * secrets are redacted wherever they appear.
 */
export function createLogger(level: string): Logger {
  return pino({
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
  });
}

/** A logger that writes nothing (tests, library use). */
export function silentLogger(): Logger {
  return pino({ level: 'silent' });
}
