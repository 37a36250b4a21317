import { createLogger, type Logger } from '../../src/telemetry/logger.ts';

/** One log line as pino wrote it (JSON). */
export interface LogLine {
  level: number;
  msg?: string;
  err?: { type?: string; message?: string; stack?: string };
  [field: string]: unknown;
}

/**
 * A logger (for startTestServer) that keeps every line it writes, at `level` and above, so a test
 * can say what was logged and at which level (pino: 20 debug, 30 info, 40 warn, 50 error).
 *
 * @example
 * const logs = capturingLogger();
 * const server = await startTestServer({}, undefined, logs.logger);
 * expect(logs.lines.filter((l) => l.level >= 50)).toEqual([]);
 */
export function capturingLogger(level = 'debug'): { logger: Logger; lines: LogLine[] } {
  const lines: LogLine[] = [];
  const logger = createLogger(level, { write: (line: string) => lines.push(JSON.parse(line) as LogLine) });
  return { logger, lines };
}
