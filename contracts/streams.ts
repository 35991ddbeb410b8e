// Event-store stream names. The aggregates' streams are named by their deciders in
// domain/ (re-exported here, so a folder that may not import domain/ still builds
// them the same way); the streams that have no decider are named here.
export {
  apiKeyStream,
  batchStream,
  callbackStream,
  extendCodeStream,
  messageStream,
  MESSAGE_STREAM_PREFIX,
  isMessageStream,
  optOutStream,
  signatureNameStream,
  signatureStream,
  templateStream,
  tenantStream,
  userStream,
  usernameStream,
  verificationStream,
} from '../domain/index.ts';

/** `receipts-<account>`: delivery receipts a supplier account pushed or we pulled. */
export const receiptsStream = (account: string): string => `receipts-${account}`;
/** `inbound-<id>`: one inbound SMS (a reply or an opt-out). */
export const inboundStream = (id: string): string => `inbound-${id}`;
/** `retention-<tenantId>`: what the retention job removed for one tenant. */
export const retentionStream = (tenantId: string): string => `retention-${tenantId}`;
/** `verification-guard-<tenantId>`: one tenant's verification-code conversion guard. */
export const guardStream = (tenantId: string): string => `verification-guard-${tenantId}`;
