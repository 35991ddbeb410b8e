export { createLogger, type Logger, type LoggerOptions } from './logger.ts';
export { withLogContext, logContext, addLogContext, type LogContext } from './context.ts';
export { maskMobiles, maskSecretsInText, maskValue, isSecretKey, REDACTED } from './mask.ts';
