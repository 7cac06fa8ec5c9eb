import { createRequire } from 'node:module';
import { pino, type Logger } from 'pino';
import type PinoPretty from 'pino-pretty';

// Loaded only for pretty output: loading it takes about 40 ms (measured), which every command would pay.
const loadPretty = () => createRequire(import.meta.url)('pino-pretty') as typeof PinoPretty;

export const logFormats = ['auto', 'json', 'pretty'] as const;
export type LogFormat = (typeof logFormats)[number];

/** `auto`: readable lines on a terminal, JSON lines anywhere else (a pipe, a file, a log collector). */
export function resolveLogFormat(format: LogFormat, stdoutIsTTY: boolean): 'json' | 'pretty' {
  return format === 'auto' ? (stdoutIsTTY ? 'pretty' : 'json') : format;
}

/**
 * Logs to `destination` (stdout by default), as JSON or pretty lines. Anything that can carry a credential is
 * redacted by path before either format sees it, and handlers never log keys or bodies.
 */
export function createLogger(level: string, destination?: pino.DestinationStream, format: 'json' | 'pretty' = 'json'): Logger {
  const stream =
    format === 'pretty'
      ? loadPretty()({
          destination: destination ?? 1,
          // Synchronous, so the last lines are out before process.exit; colours only on the terminal itself.
          sync: true,
          colorize: destination === undefined && process.stdout.isTTY === true,
          translateTime: 'SYS:HH:MM:ss.l',
          ignore: 'service',
        })
      : destination;
  return pino(
    {
      level,
      base: { service: 'stripemeter' },
      timestamp: pino.stdTimeFunctions.isoTime,
      redact: {
        paths: [
          'key',
          '*.key',
          'adminKey',
          'authorization',
          '*.authorization',
          '*.headers.authorization',
          '*.headers["x-api-key"]',
          'password',
          '*.password',
          'secret',
          '*.secret',
        ],
        censor: '[redacted]',
      },
    },
    stream,
  );
}

export type { Logger };
