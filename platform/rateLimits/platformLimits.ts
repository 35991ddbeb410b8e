// The platform's limits on one send of a tenant, from its state and the
// deployment's defaults. The accept path (command-service) and the dispatcher,
// which reserves the limits of a scheduled send at send time, both use it.
import {
  callingCodeOf,
  refuseDestination,
  type DestinationRefusal,
  type TemplateKind,
  type TenantState,
} from '../../domain/index.ts';
import type { Config } from '../config/index.ts';
import type { PlatformLimits } from './limiter.ts';

type TenantsConfig = Config['tenants'];

/** The limits in force: the tenant's own, else the deployment's defaults (0: none). */
export function effectiveTenantLimits(t: TenantsConfig, state: TenantState) {
  const own = state.limits;
  return {
    maxPerDay:
      state.status === 'trial'
        ? Math.min(own.maxPerDay ?? t.trialMaxPerDay, t.trialMaxPerDay)
        : (own.maxPerDay ?? t.maxPerDay),
    maxPerSecond: own.maxPerSecond ?? t.maxPerSecond,
    mobileMaxPerDay: own.mobileMaxPerDay ?? t.mobileMaxPerDay,
    countries: own.countries ?? [...t.countries],
  };
}

/**
 * May the tenant send to this number at all (a refusal naming the rule), and
 * which platform limits to reserve with the template's.
 */
export function platformLimitsOf(
  t: TenantsConfig,
  state: TenantState,
  kind: TemplateKind,
  e164: string,
):
  | { ok: true; limits: PlatformLimits }
  | { ok: false; refusal: DestinationRefusal; countries: string[] } {
  const limits = effectiveTenantLimits(t, state);
  const refusal = refuseDestination(state, e164, callingCodeOf(e164), limits.countries);
  if (refusal) return { ok: false, refusal, countries: limits.countries };
  return {
    ok: true,
    limits: {
      tenantMaxPerDay: limits.maxPerDay,
      trial: state.status === 'trial',
      tenantMaxPerSecond: limits.maxPerSecond,
      tenantMobileMaxPerDay: limits.mobileMaxPerDay,
      ...(kind === 'verification'
        ? { verificationMobileMaxPerDay: t.verificationMobileMaxPerDay }
        : {}),
    },
  };
}
