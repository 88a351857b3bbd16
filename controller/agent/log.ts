// Structured logs (pino, JSON lines on stderr so stdout stays free for
// command output). Each reconcile logs through a child with its id.
import { pino, type Logger, type LevelWithSilent } from 'pino';

export type { Logger };

export function makeLogger(level: LevelWithSilent = 'info', name = 'lcp-agent'): Logger {
  return pino({ name, level, base: { pid: process.pid } }, pino.destination({ fd: 2, sync: true }));
}

export const silentLogger = (): Logger => pino({ level: 'silent' });
