// The checks a scheduled send (sendAt, or held by quiet hours) meets at send
// time instead of at accept: the template is still enabled, a marketing number
// has not opted out meanwhile, the tenant may send to it, and every limit of
// the template's policy and of the platform is reserved, all or nothing. A
// refusal ends the message as failed with the rule.
import {
  optOutDecider,
  optOutStream,
  templateDecider,
  templateStream,
  tenantDecider,
  tenantStream,
  withStart,
} from '../domain/index.ts';
import { aggregateStream } from '../platform/eventStore/index.ts';
import type { ExistingMessage, FailureReason } from '../domain/messages/index.ts';
import { platformLimitsOf, reserveLimits } from '../platform/rateLimits/index.ts';
import type { ProcessorDeps, ProcessorOptions } from './deps.ts';

export type SendTimeCheck = { ok: true } | { ok: false; reason: FailureReason };

const refused = (code: string, message: string): SendTimeCheck => ({
  ok: false,
  reason: { code, message, retriable: false },
});

export async function checkAtSendTime(
  deps: ProcessorDeps,
  options: ProcessorOptions,
  s: ExistingMessage,
  now = Date.now(),
): Promise<SendTimeCheck> {
  const a = s.accepted;
  const store = deps.eventStore;
  const [template, tenantState, optOut] = await Promise.all([
    aggregateStream(store, templateDecider, templateStream(a.templateCode)),
    aggregateStream(store, tenantDecider, tenantStream(a.tenantId)),
    a.kind === 'marketing'
      ? aggregateStream(store, optOutDecider, optOutStream(a.tenantId, a.mobile))
      : undefined,
  ]).then(([t, n, o]) => [t.state, n.state, o?.state] as const);
  if (!template.exists) return refused('TEMPLATE_NOT_FOUND', 'the template no longer exists');
  if (!template.enabled) {
    return refused('TEMPLATE_DISABLED', `template ${a.templateCode} was disabled before send time`);
  }
  if (optOut?.optedOut) {
    return refused('MOBILE_OPTED_OUT', 'the number opted out before send time');
  }
  const tenant = withStart(tenantState, a.tenantId, deps.config.tenants.start);
  const platform = platformLimitsOf(deps.config.tenants, tenant, a.kind, a.mobile);
  if (!platform.ok) return refused(platform.refusal.code, platform.refusal.message);
  const result = await reserveLimits(
    deps.redis,
    template.policy,
    { tenantId: a.tenantId, templateCode: a.templateCode, mobile: a.mobile },
    now,
    { prefix: options.rateLimitPrefix },
    platform.limits,
  );
  if (!result.ok) return refused(result.rule, `limit ${result.rule} reached at send time`);
  return { ok: true };
}
