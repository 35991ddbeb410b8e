// The Template aggregate, stream `template-<templateId>`.
import type { Decider, Event } from '../decider.ts';
import { DomainError } from '../errors.ts';
import { deepEqual, requireText, requireTextList, withoutUndefined } from '../checks/index.ts';
import { parsePlaceholders } from './placeholders.ts';
import { requireQuietHours, type QuietHours } from './quietHours.ts';
import {
  resolvePolicy,
  templateKinds,
  type RatePolicy,
  type TemplateKind,
  type VerificationSettings,
} from './policy.ts';

export const templateStream = (templateId: string): string => `template-${templateId}`;

export const MAX_CONTENT_LENGTH = 1000;
// The SMS extension code (appended to the sender number, so replies come back
// with it): digits only; 6 keeps the whole sender number within the carriers' limits.
export const EXTEND_CODE_PATTERN = /^[0-9]{1,6}$/;
/**
 * An extension code belongs to one tenant per supplier account, so that a reply
 * with it always finds its tenant: reserved by a stream of its own, appended
 * with "no stream" expected (the code, digits only, is what follows the last dash).
 */
export const extendCodeStream = (account: string, extendCode: string): string =>
  `extend-code-${account}-${extendCode}`;
// Verification templates must say where the code goes.
export const VERIFICATION_CODE_PLACEHOLDER = 'code';

// events ------------------------------------------------------------------
export type TemplateCreated = Event<
  'template.created.v1',
  {
    templateId: string;
    templateCode: string;
    tenantId: string;
    name: string;
    kind: TemplateKind;
    signature: string;
    content: string;
    /** absent on templates created before per-template suppliers: none */
    suppliers?: string[];
    policy: RatePolicy;
    verification?: VerificationSettings;
    extendCode?: string;
    /** marketing only: sends inside them are held until they end */
    quietHours?: QuietHours;
  }
>;
export type TemplateUpdated = Event<
  'template.updated.v1',
  {
    templateCode: string;
    signature?: string;
    content?: string;
    suppliers?: string[];
    policy?: RatePolicy;
    verification?: VerificationSettings;
    /** null: the extension code was removed */
    extendCode?: string | null;
    /** null: the quiet hours were removed */
    quietHours?: QuietHours | null;
  }
>;
export type TemplateDisabled = Event<'template.disabled.v1', { templateCode: string }>;
export type TemplateEnabled = Event<'template.enabled.v1', { templateCode: string }>;
/**
 * A review at one supplier account. `revision` is the template's content
 * revision it is about: a change of content or signature starts a new
 * revision, and reviews of an older one no longer count.
 */
export type TemplateReviewSubmitted = Event<
  'template.review-submitted.v1',
  {
    templateCode: string;
    account: string;
    vendorTemplateId: string;
    revision: number;
    /** placeholder names in the vendor's order (Tencent {1}, {2}, …) */
    params: string[];
  }
>;
/** The tenant asks to use a template it already has approved at the vendor. */
export type TemplateBindingRequested = Event<
  'template.binding-requested.v1',
  { templateCode: string; account: string; vendorTemplateId: string; revision: number }
>;
export type TemplateReviewed = Event<
  'template.reviewed.v1',
  {
    templateCode: string;
    account: string;
    vendorTemplateId?: string;
    revision: number;
    status: 'approved' | 'rejected';
    reason?: string;
    params?: string[];
  }
>;
export type TemplateEvent =
  | TemplateCreated
  | TemplateUpdated
  | TemplateDisabled
  | TemplateEnabled
  | TemplateReviewSubmitted
  | TemplateBindingRequested
  | TemplateReviewed;

// commands ----------------------------------------------------------------
export type CreateTemplate = {
  type: 'CreateTemplate';
  data: {
    templateId: string;
    templateCode: string;
    tenantId: string;
    name: string;
    kind: TemplateKind;
    signature: string;
    content: string;
    suppliers?: string[];
    policy?: RatePolicy;
    verification?: Partial<VerificationSettings>;
    extendCode?: string;
    /** marketing only; timeZone defaults to Asia/Shanghai */
    quietHours?: Partial<QuietHours>;
  };
};
// tenantId, when given, must own the template (else TEMPLATE_NOT_FOUND).
export type UpdateTemplate = {
  type: 'UpdateTemplate';
  data: {
    tenantId?: string;
    signature?: string;
    content?: string;
    suppliers?: string[];
    policy?: RatePolicy;
    verification?: Partial<VerificationSettings>;
    /** null removes the extension code */
    extendCode?: string | null;
    /** marketing only; null removes them */
    quietHours?: Partial<QuietHours> | null;
  };
};
export type DisableTemplate = { type: 'DisableTemplate'; data?: { tenantId?: string } };
export type EnableTemplate = { type: 'EnableTemplate'; data?: { tenantId?: string } };
/** The reviewer: the vendor took our template for review. */
export type RecordTemplateSubmission = {
  type: 'RecordTemplateSubmission';
  data: { account: string; vendorTemplateId: string; revision: number; params: string[] };
};
/** The tenant: bind a template already approved at the vendor (checked by the reviewer). */
export type RequestTemplateBinding = {
  type: 'RequestTemplateBinding';
  data: { tenantId?: string; account: string; vendorTemplateId: string };
};
/** The reviewer: the vendor's final answer (or ours, for a binding that does not match). */
export type RecordTemplateReview = {
  type: 'RecordTemplateReview';
  data: {
    account: string;
    vendorTemplateId?: string;
    revision: number;
    status: 'approved' | 'rejected';
    reason?: string;
    params?: string[];
  };
};
export type TemplateCommand =
  | CreateTemplate
  | UpdateTemplate
  | DisableTemplate
  | EnableTemplate
  | RecordTemplateSubmission
  | RequestTemplateBinding
  | RecordTemplateReview;

// state -------------------------------------------------------------------
/** The template at one supplier account, for the current revision. */
export type TemplateBinding = {
  /** absent while our submission has not reached the vendor, or when it refused it */
  vendorTemplateId?: string;
  status: 'pending' | 'approved' | 'rejected';
  reason?: string;
  /** placeholder names in the vendor's order */
  params: string[];
  /** submitted by us, or bound by the tenant */
  source: 'submitted' | 'bound';
};
export type ExistingTemplate = {
  exists: true;
  templateId: string;
  templateCode: string;
  tenantId: string;
  name: string;
  kind: TemplateKind;
  enabled: boolean;
  signature: string;
  content: string;
  placeholders: string[];
  suppliers: string[];
  policy: RatePolicy;
  verification: VerificationSettings | undefined;
  extendCode: string | undefined;
  /** marketing only: sends inside them are held until they end */
  quietHours: QuietHours | undefined;
  /** content revision: 0 at creation, +1 per change of content or signature */
  revision: number;
  /** per supplier account; an account without one has not been submitted yet */
  bindings: Record<string, TemplateBinding>;
};
export type TemplateState = { exists: false } | ExistingTemplate;

function contentInvalid(field: string, message: string, reason: string): DomainError {
  return new DomainError('TEMPLATE_CONTENT_INVALID', message, { field, reason });
}

/** Checks signature and content for a kind; returns the placeholders. Throws TEMPLATE_CONTENT_INVALID. */
export function validateTemplateContent(
  kind: TemplateKind,
  signature: string,
  content: string,
): string[] {
  if (typeof signature !== 'string' || signature.trim() === '') {
    throw contentInvalid('signature', 'The signature is empty.', 'EMPTY');
  }
  if (/[【】]/.test(signature)) {
    throw contentInvalid(
      'signature',
      'Give the signature without 【】; they are added when the message is sent.',
      'BRACKETS',
    );
  }
  if (typeof content !== 'string' || content.trim() === '') {
    throw contentInvalid('content', 'The content is empty.', 'EMPTY');
  }
  const length = [...content].length;
  if (length > MAX_CONTENT_LENGTH) {
    throw contentInvalid(
      'content',
      `The content has ${length} characters; at most ${MAX_CONTENT_LENGTH} are allowed.`,
      'TOO_LONG',
    );
  }
  const placeholders = parsePlaceholders(content);
  if (kind === 'verification' && !placeholders.includes(VERIFICATION_CODE_PLACEHOLDER)) {
    throw contentInvalid(
      'content',
      `A verification template must contain \${${VERIFICATION_CODE_PLACEHOLDER}} where the code goes.`,
      'NO_CODE_PLACEHOLDER',
    );
  }
  return placeholders;
}

function requireKind(kind: unknown): TemplateKind {
  if (!templateKinds.includes(kind as TemplateKind)) {
    throw new DomainError('VALIDATION_FAILED', `kind must be one of ${templateKinds.join(', ')}.`, {
      field: 'kind',
    });
  }
  return kind as TemplateKind;
}

function requireExtendCode(value: unknown): string {
  if (typeof value !== 'string' || !EXTEND_CODE_PATTERN.test(value)) {
    throw new DomainError('VALIDATION_FAILED', 'extendCode must be 1 to 6 digits.', {
      field: 'extendCode',
    });
  }
  return value;
}

function requireExisting(state: TemplateState, tenantId: string | undefined): ExistingTemplate {
  if (!state.exists || (tenantId !== undefined && tenantId !== state.tenantId)) {
    throw new DomainError('TEMPLATE_NOT_FOUND', 'No such template.');
  }
  return state;
}

function create(command: CreateTemplate['data'], state: TemplateState): TemplateEvent[] {
  if (state.exists) {
    throw new DomainError(
      'TEMPLATE_ALREADY_EXISTS',
      `Template ${state.templateCode} already exists; update it instead.`,
      { templateCode: state.templateCode },
    );
  }
  const kind = requireKind(command.kind);
  const templateId = requireText(command.templateId, 'templateId');
  const templateCode = requireText(command.templateCode, 'templateCode');
  const tenantId = requireText(command.tenantId, 'tenantId');
  const name = requireText(command.name, 'name').trim();
  const signature = typeof command.signature === 'string' ? command.signature.trim() : '';
  validateTemplateContent(kind, signature, command.content);
  const suppliers = requireTextList(command.suppliers ?? [], 'suppliers');
  const { policy, verification } = resolvePolicy(kind, {
    policy: command.policy,
    verification: command.verification,
  });
  const extendCode =
    command.extendCode === undefined ? undefined : requireExtendCode(command.extendCode);
  const quietHours =
    command.quietHours === undefined ? undefined : requireQuietHours(command.quietHours, kind);
  return [
    {
      type: 'template.created.v1',
      data: withoutUndefined({
        templateId,
        templateCode,
        tenantId,
        name,
        kind,
        signature,
        content: command.content,
        suppliers,
        policy,
        verification,
        extendCode,
        quietHours,
      }),
    },
  ];
}

function update(command: UpdateTemplate['data'], state: TemplateState): TemplateEvent[] {
  const current = requireExisting(state, command.tenantId);
  const content = command.content;
  const signature = command.signature === undefined ? undefined : command.signature.trim();
  if (content !== undefined || signature !== undefined) {
    validateTemplateContent(
      current.kind,
      signature ?? current.signature,
      content ?? current.content,
    );
  }
  const suppliers =
    command.suppliers === undefined ? undefined : requireTextList(command.suppliers, 'suppliers');
  let policy: RatePolicy | undefined;
  let verification: VerificationSettings | undefined;
  if (command.policy !== undefined || command.verification !== undefined) {
    const resolved = resolvePolicy(current.kind, {
      policy: command.policy ?? current.policy,
      verification:
        command.verification === undefined
          ? current.verification
          : { ...current.verification, ...command.verification },
    });
    if (command.policy !== undefined) policy = resolved.policy;
    if (command.verification !== undefined) verification = resolved.verification;
  }
  const extendCode =
    command.extendCode === undefined || command.extendCode === null
      ? command.extendCode
      : requireExtendCode(command.extendCode);
  const quietHours =
    command.quietHours === undefined || command.quietHours === null
      ? command.quietHours
      : requireQuietHours(command.quietHours, current.kind);
  // Unchanged fields are dropped; an update that changes nothing emits nothing.
  const changes = withoutUndefined({
    signature: signature === current.signature ? undefined : signature,
    content: content === current.content ? undefined : content,
    suppliers: deepEqual(suppliers, current.suppliers) ? undefined : suppliers,
    policy: deepEqual(policy, current.policy) ? undefined : policy,
    verification: deepEqual(verification, current.verification) ? undefined : verification,
    extendCode: (extendCode ?? undefined) === current.extendCode ? undefined : extendCode,
    quietHours: deepEqual(quietHours ?? undefined, current.quietHours) ? undefined : quietHours,
  });
  if (Object.keys(changes).length === 0) return [];
  return [
    { type: 'template.updated.v1', data: { templateCode: current.templateCode, ...changes } },
  ];
}

function recordSubmission(
  command: RecordTemplateSubmission['data'],
  state: TemplateState,
): TemplateEvent[] {
  const current = requireExisting(state, undefined);
  // a submission for an older revision, or one already recorded, changes nothing
  if (command.revision !== current.revision || current.bindings[command.account]) return [];
  return [
    {
      type: 'template.review-submitted.v1',
      data: {
        templateCode: current.templateCode,
        account: requireText(command.account, 'account'),
        vendorTemplateId: requireText(command.vendorTemplateId, 'vendorTemplateId'),
        revision: command.revision,
        params: [...command.params],
      },
    },
  ];
}

function requestBinding(
  command: RequestTemplateBinding['data'],
  state: TemplateState,
): TemplateEvent[] {
  const current = requireExisting(state, command.tenantId);
  const account = requireText(command.account, 'account');
  const vendorTemplateId = requireText(command.vendorTemplateId, 'vendorTemplateId').trim();
  if (!current.suppliers.includes(account)) {
    throw new DomainError(
      'UNKNOWN_SUPPLIER',
      `Account ${account} is not one of the template's suppliers (${current.suppliers.join(', ')}); add it first.`,
      { field: 'account', unknown: [account] },
    );
  }
  const existing = current.bindings[account];
  if (existing?.vendorTemplateId === vendorTemplateId && existing.status !== 'rejected') return [];
  return [
    {
      type: 'template.binding-requested.v1',
      data: {
        templateCode: current.templateCode,
        account,
        vendorTemplateId,
        revision: current.revision,
      },
    },
  ];
}

function recordReview(
  command: RecordTemplateReview['data'],
  state: TemplateState,
): TemplateEvent[] {
  const current = requireExisting(state, undefined);
  if (command.revision !== current.revision) return [];
  const binding = current.bindings[command.account];
  // a review of another vendor template than the one the account now has is stale
  if (
    binding?.vendorTemplateId !== undefined &&
    command.vendorTemplateId !== undefined &&
    binding.vendorTemplateId !== command.vendorTemplateId
  ) {
    return [];
  }
  if (binding && binding.status === command.status && binding.reason === command.reason) return [];
  return [
    {
      type: 'template.reviewed.v1',
      data: withoutUndefined({
        templateCode: current.templateCode,
        account: requireText(command.account, 'account'),
        vendorTemplateId: command.vendorTemplateId ?? binding?.vendorTemplateId,
        revision: command.revision,
        status: command.status,
        reason: command.reason,
        params: command.params,
      }),
    },
  ];
}

function decide(command: TemplateCommand, state: TemplateState): TemplateEvent[] {
  switch (command.type) {
    case 'RecordTemplateSubmission':
      return recordSubmission(command.data, state);
    case 'RequestTemplateBinding':
      return requestBinding(command.data, state);
    case 'RecordTemplateReview':
      return recordReview(command.data, state);
    case 'CreateTemplate':
      return create(command.data, state);
    case 'UpdateTemplate':
      return update(command.data, state);
    case 'DisableTemplate': {
      const current = requireExisting(state, command.data?.tenantId);
      if (!current.enabled) {
        throw new DomainError(
          'TEMPLATE_ALREADY_DISABLED',
          `Template ${current.templateCode} is already disabled.`,
        );
      }
      return [{ type: 'template.disabled.v1', data: { templateCode: current.templateCode } }];
    }
    case 'EnableTemplate': {
      const current = requireExisting(state, command.data?.tenantId);
      if (current.enabled) {
        throw new DomainError(
          'TEMPLATE_ALREADY_ENABLED',
          `Template ${current.templateCode} is already enabled.`,
        );
      }
      return [{ type: 'template.enabled.v1', data: { templateCode: current.templateCode } }];
    }
  }
}

type EventData<T extends TemplateEvent['type']> = Extract<TemplateEvent, { type: T }>['data'];

function created(d: EventData<'template.created.v1'>): ExistingTemplate {
  return {
    exists: true,
    templateId: d.templateId,
    templateCode: d.templateCode,
    tenantId: d.tenantId,
    name: d.name,
    kind: d.kind,
    enabled: true,
    signature: d.signature,
    content: d.content,
    placeholders: parsePlaceholders(d.content),
    suppliers: d.suppliers ?? [],
    policy: d.policy,
    verification: d.verification,
    extendCode: d.extendCode,
    quietHours: d.quietHours,
    revision: 0,
    bindings: {},
  };
}

function updated(state: ExistingTemplate, d: EventData<'template.updated.v1'>): ExistingTemplate {
  // new text: every vendor reviews it again
  const changed = d.content !== undefined || d.signature !== undefined;
  return {
    ...state,
    revision: changed ? state.revision + 1 : state.revision,
    bindings: changed ? {} : state.bindings,
    signature: d.signature ?? state.signature,
    content: d.content ?? state.content,
    placeholders: d.content === undefined ? state.placeholders : parsePlaceholders(d.content),
    suppliers: d.suppliers ?? state.suppliers,
    policy: d.policy ?? state.policy,
    verification: d.verification ?? state.verification,
    extendCode: d.extendCode === undefined ? state.extendCode : (d.extendCode ?? undefined),
    quietHours: d.quietHours === undefined ? state.quietHours : (d.quietHours ?? undefined),
  };
}

function evolve(state: TemplateState, event: TemplateEvent): TemplateState {
  switch (event.type) {
    case 'template.created.v1':
      return created(event.data);
    case 'template.updated.v1':
      return state.exists ? updated(state, event.data) : state;
    case 'template.disabled.v1':
      return state.exists ? { ...state, enabled: false } : state;
    case 'template.enabled.v1':
      return state.exists ? { ...state, enabled: true } : state;
    case 'template.review-submitted.v1': {
      const d = event.data;
      if (!state.exists || d.revision !== state.revision) return state;
      const binding: TemplateBinding = {
        vendorTemplateId: d.vendorTemplateId,
        status: 'pending',
        params: [...d.params],
        source: 'submitted',
      };
      return { ...state, bindings: { ...state.bindings, [d.account]: binding } };
    }
    case 'template.binding-requested.v1': {
      const d = event.data;
      if (!state.exists || d.revision !== state.revision) return state;
      const binding: TemplateBinding = {
        vendorTemplateId: d.vendorTemplateId,
        status: 'pending',
        params: [],
        source: 'bound',
      };
      return { ...state, bindings: { ...state.bindings, [d.account]: binding } };
    }
    case 'template.reviewed.v1': {
      const d = event.data;
      if (!state.exists || d.revision !== state.revision) return state;
      const before = state.bindings[d.account];
      const binding: TemplateBinding = withoutUndefined({
        vendorTemplateId: d.vendorTemplateId ?? before?.vendorTemplateId,
        status: d.status,
        reason: d.reason,
        params: d.params ?? before?.params ?? [],
        source: before?.source ?? 'submitted',
      });
      return { ...state, bindings: { ...state.bindings, [d.account]: binding } };
    }
    default:
      return state;
  }
}

export const templateDecider: Decider<TemplateCommand, TemplateState, TemplateEvent> = {
  decide,
  evolve,
  initialState: () => ({ exists: false }),
};
