import { pino, type Logger } from 'pino';

export type { Logger };

/** JSON logs on stdout; level from WEIR_LOG_LEVEL (default info). Tests pass `silent`. */
export function createLogger(opts: { level?: string; name?: string } = {}): Logger {
  return pino({
    name: opts.name ?? 'weir',
    level: opts.level ?? process.env.WEIR_LOG_LEVEL ?? 'info',
    base: { pid: process.pid },
    timestamp: pino.stdTimeFunctions.isoTime,
  });
}

export const silentLogger = (): Logger => pino({ level: 'silent' });
