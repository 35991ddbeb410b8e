import type { Request } from 'express';
import { principalOf, type Principal } from '../platform/auth/index.ts';

export { principalOf, type Principal };

/** The tenant filter for deciders: undefined for admins (they see all), else the caller. */
export function tenantScope(principal: Principal): string | undefined {
  return principal.role === 'admin' ? undefined : principal.userId;
}

export function param(req: Request, name: string): string {
  const value = req.params[name];
  return typeof value === 'string' ? value : '';
}
