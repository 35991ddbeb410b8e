import { AppError, DomainError } from '../platform/errors/index.ts';
import type { Principal } from '../platform/auth/index.ts';
import type { CommandDeps } from './deps.ts';

/** Publishes `send.rejected` with the error code as the rule, for errors a caller caused. */
export function trackRejection(
  deps: CommandDeps,
  principal: Principal,
  templateCode: string,
  err: unknown,
): void {
  const rule = err instanceof AppError || err instanceof DomainError ? err.code : undefined;
  if (rule === undefined) return;
  deps.tracker.track({ type: 'send.rejected', tenantId: principal.userId, templateCode, rule });
}
