import { AsyncLocalStorage } from 'node:async_hooks';

/** Fields stamped on every log line written while the context is active. */
export interface LogContext {
  requestId?: string;
  correlationId?: string;
  [field: string]: unknown;
}

const storage = new AsyncLocalStorage<LogContext>();

/** Runs fn with ctx (merged over the current context) attached to every log line it causes, across awaits. */
export function withLogContext<T>(ctx: LogContext, fn: () => T): T {
  return storage.run({ ...storage.getStore(), ...ctx }, fn);
}

/** The active context (empty outside withLogContext). */
export function logContext(): Readonly<LogContext> {
  return storage.getStore() ?? {};
}

/** Adds fields to the active context, e.g. the tenant once a request is authenticated. No-op outside one. */
export function addLogContext(fields: LogContext): void {
  const store = storage.getStore();
  if (store) Object.assign(store, fields);
}
