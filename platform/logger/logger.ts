import winston from 'winston';
import type { LogLevel } from '../config/index.ts';
import { logContext } from './context.ts';
import { maskInfo } from './mask.ts';

export type Logger = winston.Logger;

export interface LoggerOptions {
  /** Stamped as `service` on every line. */
  name?: string;
  /** Where JSON lines go (default stdout); tests pass a stream to read them back. */
  stream?: NodeJS.WritableStream;
}

// Context first (explicit fields win), then masking over everything, then the JSON line.
const withContext = winston.format((info) => {
  for (const [k, v] of Object.entries(logContext())) {
    if (info[k] === undefined) info[k] = v;
  }
  return info;
});

const masked = winston.format((info) => maskInfo(info));

/** A winston logger writing one JSON object per line, with request context and masking. */
export function createLogger(config: { logLevel: LogLevel }, options: LoggerOptions = {}): Logger {
  return winston.createLogger({
    level: config.logLevel,
    defaultMeta: options.name ? { service: options.name } : undefined,
    format: winston.format.combine(
      winston.format.errors({ stack: true }),
      withContext(),
      masked(),
      winston.format.timestamp(),
      winston.format.json(),
    ),
    transports: [new winston.transports.Stream({ stream: options.stream ?? process.stdout })],
  });
}
