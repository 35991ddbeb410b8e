// The rules that decide whether a message may be accepted at all, before any
// limit is reserved: the template is enabled and of the kind the call sends,
// a marketing message does not go to a number that opted out, and a repeated
// Idempotency-Key carries the same request. The command side asks them in
// that order (command-service/sendingMessages); the message decider's Accept
// asks the last one of a stream that exists.
import { DomainError } from '../errors.ts';
import type { OptOutState } from '../inbound/optOut.ts';
import type { TemplateKind } from '../templates/policy.ts';

/** What the rules need of a template. */
export type SendableTemplate = { templateCode: string; enabled: boolean; kind: TemplateKind };

/** The template is enabled and of a kind this call may send (codes only through verification templates). */
export function checkSendable(template: SendableTemplate, verification: boolean): void {
  if (!template.enabled) {
    throw new DomainError(
      'TEMPLATE_DISABLED',
      `Template ${template.templateCode} is disabled; enable it first.`,
    );
  }
  if (verification !== (template.kind === 'verification')) {
    throw new DomainError(
      'WRONG_TEMPLATE_KIND',
      verification
        ? `Template ${template.templateCode} is a ${template.kind} template; codes need a verification template.`
        : `Template ${template.templateCode} sends verification codes; use POST /v1/verifications.`,
      { kind: template.kind },
    );
  }
}

/** Only marketing is refused to a number that opted out with the tenant. */
export function checkNotOptedOut(kind: TemplateKind, optOut: Pick<OptOutState, 'optedOut'>): void {
  if (kind === 'marketing' && optOut.optedOut) {
    throw new DomainError(
      'MOBILE_OPTED_OUT',
      'The number has opted out of this tenant’s marketing messages.',
    );
  }
}

/**
 * A send meeting a recorded one of the same id (message or batch): the same
 * request (hash) is a repeat, another is refused.
 */
export function checkRepeat(
  recorded: { requestHash: string },
  requestHash: string,
  what: 'request' | 'batch' = 'request',
): void {
  if (recorded.requestHash === requestHash) return;
  throw new DomainError(
    'IDEMPOTENCY_KEY_REUSED',
    `This Idempotency-Key was already used with a different ${what}; use a new key.`,
  );
}
