// The shared half of sending a notification and sending a code: template
// checks, limits, and appending `sms.accepted.v1` with "no stream" expected.
import { createHash } from 'node:crypto';
import {
  aggregate,
  approvedBindings,
  approvedSignatureAccounts,
  checkRepeat,
  countSegments,
  messageDecider,
  messageStream,
  normalizeMobile,
  optOutDecider,
  optOutStream,
  renderMessage,
  signatureDecider,
  signatureStream,
  vendorParamProblem,
  VERIFICATION_CODE_PLACEHOLDER,
  type Encoding,
  type ExistingTemplate,
  type MessageEvent,
  type OptOutEvent,
  type OptOutState,
  type Params,
  type ParamProblem,
  type Route,
  type SignatureEvent,
  type SmsAcceptedData,
} from '../../domain/index.ts';
import { AppError } from '../../platform/errors/index.ts';
import {
  readStream,
  readStreams,
  WrongExpectedVersionError,
  type Recorded,
} from '../../platform/eventStore/index.ts';
import {
  releaseReservation,
  reserveLimitsEach,
  type PlatformLimits,
  type RateRule,
  type Reservation,
  type ReserveResult,
} from '../../platform/rateLimits/index.ts';
import type { CommandDeps } from '../deps.ts';
import { platformLimitsFor, tenantState, type Prefetched } from '../managingTenants/index.ts';
import { toNewEvents, type Meta } from '../commandHandling/index.ts';
import { redisPrefixOf } from '../../platform/config/index.ts';
import { freshStream } from './sharedReads.ts';

export interface AcceptedAnswer {
  messageId: string;
  segments: number;
  encoding: Encoding;
  position: number;
}

/** Stable JSON: object keys sorted, so equal bodies hash equally. */
export function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  if (value !== null && typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>)
      .filter(([, v]) => v !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(',')}}`;
  }
  return JSON.stringify(value) ?? 'null';
}

export function requestHash(body: unknown): string {
  return `sha256:${createHash('sha256').update(canonicalJson(body)).digest('hex')}`;
}

// A fixed namespace for message ids derived from Idempotency-Keys (UUIDv5 style).
const NAMESPACE = Buffer.from('6f1c2f6e8a1d4c0e9b3e5d7a2c4b6e80', 'hex');

/** The message id for (tenant, Idempotency-Key): the same pair always gives the same id. */
export function idempotentMessageId(tenantId: string, key: string): string {
  const h = createHash('sha1').update(NAMESPACE).update(`${tenantId}\n${key}`, 'utf8').digest();
  h[6] = (h[6]! & 0x0f) | 0x50;
  h[8] = (h[8]! & 0x3f) | 0x80;
  const hex = h.subarray(0, 16).toString('hex');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

/** An Idempotency-Key header: 1–128 visible ASCII characters; undefined when absent. */
export function idempotencyKeyOf(header: string | string[] | undefined): string | undefined {
  if (header === undefined) return undefined;
  const value = Array.isArray(header) ? header[0] : header;
  if (value === undefined || !/^[\x21-\x7e]{1,128}$/.test(value)) {
    throw new AppError(
      'VALIDATION_FAILED',
      'The Idempotency-Key header must be 1 to 128 visible ASCII characters.',
      { errors: [{ path: 'header.Idempotency-Key', message: 'is invalid' }] },
    );
  }
  return value;
}

/** Step 3: E.164, or INVALID_MOBILE (422) saying what is wrong. */
export function e164Of(mobile: string): string {
  return normalizeMobile(mobile);
}

/**
 * Step 4: marketing templates do not go to numbers that opted out with this
 * tenant. The opt-out state of each number, read in one round trip (none for
 * other kinds); checkNotOptedOut(template.kind, state) refuses one.
 */
export async function optOutStates(
  deps: CommandDeps,
  template: ExistingTemplate,
  e164s: readonly string[],
): Promise<Map<string, OptOutState>> {
  const states = new Map<string, OptOutState>();
  if (template.kind !== 'marketing' || e164s.length === 0) return states;
  const streams = await readStreams<OptOutEvent>(
    deps.eventStore,
    e164s.map((m) => optOutStream(template.tenantId, m)),
  );
  for (const m of e164s) {
    states.set(m, aggregate(optOutDecider, streams.get(optOutStream(template.tenantId, m)) ?? []));
  }
  return states;
}

/** A refusal of reserveLimits as the API answers it: 429 naming the rule, with Retry-After. */
function limitRefusal(result: { rule: RateRule; retryAfterSeconds: number }): AppError {
  return new AppError(
    result.rule,
    undefined,
    { rule: result.rule, retryAfterSeconds: result.retryAfterSeconds },
    { 'Retry-After': String(result.retryAfterSeconds) },
  );
}

/**
 * Step 5 for many sends of one template (a batch: one script call per 200,
 * see reserveLimitsEach): every limit of the policy and of the platform, each
 * send all or nothing, in the order given; one promise per send, settled when
 * its chunk is answered: the reservation, or an AppError naming the rule
 * (429, Retry-After). Redis unreachable: each rejects with 503.
 */
export function reserveEach(
  deps: CommandDeps,
  template: ExistingTemplate,
  sends: readonly { e164: string; platform: PlatformLimits }[],
  now: number,
): Promise<Reservation | AppError>[] {
  let logged = false;
  const unavailable = (err: unknown): never => {
    if (!logged) deps.logger.error('rate limits unavailable', { err });
    logged = true;
    throw new AppError('DEPENDENCY_UNAVAILABLE', 'Rate limits cannot be checked now; retry later.');
  };
  let each: Promise<ReserveResult>[];
  try {
    each = reserveLimitsEach(
      deps.redis,
      sends.map((s) => ({
        policy: template.policy,
        subject: {
          tenantId: template.tenantId,
          templateCode: template.templateCode,
          mobile: s.e164,
        },
        platform: s.platform,
      })),
      now,
      { prefix: `${redisPrefixOf(deps)}rl:` },
    );
  } catch (err) {
    return sends.map(() => Promise.reject(err).catch(unavailable));
  }
  return each.map((p) => p.then((r) => (r.ok ? r.reservation : limitRefusal(r)), unavailable));
}

/**
 * Step 5: the tenant may send to this number (403 naming the rule), then every
 * limit of the policy and of the platform, all or nothing; else 429 naming
 * the rule, with Retry-After. `prefetched`: the request's Principal.prefetched.
 */
export async function reserveOrRefuse(
  deps: CommandDeps,
  template: ExistingTemplate,
  e164: string,
  now: number,
  prefetched?: Prefetched,
): Promise<Reservation> {
  const state = await tenantState(deps, template.tenantId, prefetched);
  const platform = platformLimitsFor(deps, state, template, e164);
  const result = await reserveEach(deps, template, [{ e164, platform }], now)[0]!;
  if (result instanceof AppError) throw result;
  return result;
}

function answerOf(event: { data: SmsAcceptedData; position: number }): AcceptedAnswer {
  const d = event.data;
  return {
    messageId: d.messageId,
    segments: d.segments,
    encoding: d.encoding,
    position: event.position,
  };
}

/**
 * The answer for a message stream that already exists: the first 202 when it
 * holds the same request, else IDEMPOTENCY_KEY_REUSED. Undefined when the
 * stream is empty.
 */
export async function existingAnswer(
  deps: CommandDeps,
  messageId: string,
  hash: string,
): Promise<AcceptedAnswer | undefined> {
  const [first] = await readStream<MessageEvent>(deps.eventStore, messageStream(messageId), {
    limit: 1,
  });
  return earlierAnswer(first, hash);
}

/** existingAnswer of many messages, from one read: the first event of each (undefined: none). */
export async function firstEvents(
  deps: CommandDeps,
  messageIds: readonly string[],
): Promise<Map<string, Recorded<MessageEvent> | undefined>> {
  const out = new Map<string, Recorded<MessageEvent> | undefined>();
  if (messageIds.length === 0) return out;
  const streams = await readStreams<MessageEvent>(
    deps.eventStore,
    messageIds.map((id) => messageStream(id)),
    { limit: 1 },
  );
  for (const id of messageIds) out.set(id, streams.get(messageStream(id))?.[0]);
  return out;
}

/** What existingAnswer answers for a stream whose first event is `first`. */
export function earlierAnswer(
  first: Recorded<MessageEvent> | undefined,
  hash: string,
): AcceptedAnswer | undefined {
  if (!first || first.type !== 'sms.accepted.v1') return undefined;
  checkRepeat(first.data, hash);
  return answerOf(first);
}

/**
 * Step 2b: the accounts the message may go through, in the template's order:
 * those where the vendor approved both the template and the tenant's
 * signature, and takes every parameter value (each vendor's own limits).
 * Else 422 TEMPLATE_NOT_APPROVED, SIGNATURE_NOT_APPROVED or
 * PARAM_VALUE_INVALID naming the parameter.
 */
export async function sendRoutes(
  deps: CommandDeps,
  template: ExistingTemplate,
  params: Params,
): Promise<Route[]> {
  return fittingRoutes(deps, template, await approvedRoutes(deps, template), params);
}

/**
 * The accounts where the vendor approved both the template and the tenant's
 * signature (the half of sendRoutes that does not depend on the params: a
 * batch asks once). Else 422 TEMPLATE_NOT_APPROVED or SIGNATURE_NOT_APPROVED.
 */
export async function approvedRoutes(
  deps: CommandDeps,
  template: ExistingTemplate,
): Promise<Route[]> {
  const bound = approvedBindings(template);
  if (bound.length === 0) {
    const bindings = Object.entries(template.bindings).map(([account, b]) => ({
      account,
      status: b.status,
      ...(b.reason ? { reason: b.reason } : {}),
    }));
    throw new AppError(
      'TEMPLATE_NOT_APPROVED',
      `No supplier account has approved template ${template.templateCode} yet; see GET /v1/templates/${template.templateCode}.`,
      { bindings },
    );
  }
  // the tenant's own signature: another tenant's of the same name is another stream
  const events = await freshStream(
    deps.eventStore,
    signatureStream(template.tenantId, template.signature),
  );
  // read as the signature decider's events (platform/eventStore/typed.ts)
  const signature = aggregate(signatureDecider, events as Recorded<SignatureEvent>[]);
  const signed = new Set(approvedSignatureAccounts(signature));
  const routes = bound.filter((r) => signed.has(r.account));
  if (routes.length === 0) {
    throw new AppError(
      'SIGNATURE_NOT_APPROVED',
      signature.exists
        ? `Signature ${template.signature} is not approved on any account the template is approved on; see GET /v1/signatures.`
        : `Register signature ${template.signature} first (POST /v1/signatures) and wait for its approval.`,
      { signature: template.signature },
    );
  }
  return routes;
}

/** Of the approved routes, those whose vendor takes every parameter value; else 422 PARAM_VALUE_INVALID. */
export function fittingRoutes(
  deps: CommandDeps,
  template: ExistingTemplate,
  routes: readonly Route[],
  params: Params,
): Route[] {
  const vendors = new Map(deps.config.suppliers.map((s) => [s.id, s.vendor]));
  let problem: ParamProblem | undefined;
  const fitting = routes.filter((r) => {
    const vendor = vendors.get(r.account);
    if (vendor === undefined) return true; // the dispatcher reports an unknown account
    const p = vendorParamProblem(vendor, template.kind, params, VERIFICATION_CODE_PLACEHOLDER);
    problem ??= p;
    return p === undefined;
  });
  if (fitting.length === 0 && problem) {
    throw new AppError(
      'PARAM_VALUE_INVALID',
      `Parameter ${problem.param} is refused by ${problem.vendor}: ${problem.limit}.`,
      { param: problem.param, vendor: problem.vendor, limit: problem.limit },
    );
  }
  return fitting;
}

/** The `sms.accepted.v1` fields taken from the template as it is at accept time. */
export function fromTemplate(template: ExistingTemplate, routes: readonly Route[]) {
  return {
    tenantId: template.tenantId,
    templateId: template.templateId,
    templateCode: template.templateCode,
    kind: template.kind,
    signature: template.signature,
    suppliers: routes.map((r) => r.account),
    vendorTemplates: Object.fromEntries(
      routes.map((r) => [r.account, { id: r.vendorTemplateId, params: [...r.params] }]),
    ),
    ...(template.extendCode === undefined ? {} : { extendCode: template.extendCode }),
  };
}

/** The rendered text and its segment count (signature included). */
export function measure(template: ExistingTemplate, params: Params) {
  const full = renderMessage(template.signature, template.content, params);
  return countSegments(full);
}

/**
 * Step 6: append `sms.accepted.v1` with "no stream" expected. When the stream
 * exists meanwhile (an idempotent repeat that raced), the reservation is
 * given back and the first answer (or 422) returned; on any other failure the
 * reservation is given back and the error rethrown.
 */
export async function appendAccepted(
  deps: CommandDeps,
  data: SmsAcceptedData,
  reservation: Reservation,
  meta: Meta,
): Promise<AcceptedAnswer & { repeated: boolean }> {
  const events = messageDecider.decide({ type: 'Accept', data }, messageDecider.initialState());
  try {
    const result = await deps.eventStore.append(
      messageStream(data.messageId),
      toNewEvents(events, meta),
      'no_stream',
    );
    return {
      messageId: data.messageId,
      segments: data.segments,
      encoding: data.encoding,
      position: result.position,
      repeated: false,
    };
  } catch (err) {
    await releaseReservation(deps.redis, reservation).catch((releaseErr: unknown) =>
      deps.logger.warn('could not release a rate-limit reservation', { err: releaseErr }),
    );
    if (err instanceof WrongExpectedVersionError) {
      const answer = await existingAnswer(deps, data.messageId, data.requestHash);
      if (answer) return { ...answer, repeated: true };
    }
    throw err;
  }
}
