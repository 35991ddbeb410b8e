// The Template aggregate, stream `template-<templateId>`.
import type { Decider, Event } from '../decider.ts';
import { DomainError } from '../errors.ts';
import { deepEqual, requireText, requireTextList, withoutUndefined } from '../checks/index.ts';
import { parsePlaceholders } from './placeholders.ts';
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
    suppliers: string[];
    policy: RatePolicy;
    verification?: VerificationSettings;
    extendCode?: string;
  }
>;
export type TemplateUpdated = Event<
  'template.updated.v1',
  {
    templateCode: string;
    content?: string;
    suppliers?: string[];
    policy?: RatePolicy;
    verification?: VerificationSettings;
    /** null: the extension code was removed */
    extendCode?: string | null;
  }
>;
export type TemplateDisabled = Event<'template.disabled.v1', { templateCode: string }>;
export type TemplateEnabled = Event<'template.enabled.v1', { templateCode: string }>;
export type TemplateEvent = TemplateCreated | TemplateUpdated | TemplateDisabled | TemplateEnabled;

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
  };
};
// tenantId, when given, must own the template (else TEMPLATE_NOT_FOUND).
export type UpdateTemplate = {
  type: 'UpdateTemplate';
  data: {
    tenantId?: string;
    content?: string;
    suppliers?: string[];
    policy?: RatePolicy;
    verification?: Partial<VerificationSettings>;
    /** null removes the extension code */
    extendCode?: string | null;
  };
};
export type DisableTemplate = { type: 'DisableTemplate'; data?: { tenantId?: string } };
export type EnableTemplate = { type: 'EnableTemplate'; data?: { tenantId?: string } };
export type TemplateCommand = CreateTemplate | UpdateTemplate | DisableTemplate | EnableTemplate;

// state -------------------------------------------------------------------
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
      }),
    },
  ];
}

function update(command: UpdateTemplate['data'], state: TemplateState): TemplateEvent[] {
  const current = requireExisting(state, command.tenantId);
  const content = command.content;
  if (content !== undefined) validateTemplateContent(current.kind, current.signature, content);
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
  // Unchanged fields are dropped; an update that changes nothing emits nothing.
  const changes = withoutUndefined({
    content: content === current.content ? undefined : content,
    suppliers: deepEqual(suppliers, current.suppliers) ? undefined : suppliers,
    policy: deepEqual(policy, current.policy) ? undefined : policy,
    verification: deepEqual(verification, current.verification) ? undefined : verification,
    extendCode: (extendCode ?? undefined) === current.extendCode ? undefined : extendCode,
  });
  if (Object.keys(changes).length === 0) return [];
  return [
    { type: 'template.updated.v1', data: { templateCode: current.templateCode, ...changes } },
  ];
}

function decide(command: TemplateCommand, state: TemplateState): TemplateEvent[] {
  switch (command.type) {
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

function evolve(state: TemplateState, event: TemplateEvent): TemplateState {
  switch (event.type) {
    case 'template.created.v1': {
      const d = event.data;
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
      };
    }
    case 'template.updated.v1': {
      if (!state.exists) return state;
      const d = event.data;
      return {
        ...state,
        content: d.content ?? state.content,
        placeholders: d.content === undefined ? state.placeholders : parsePlaceholders(d.content),
        suppliers: d.suppliers ?? state.suppliers,
        policy: d.policy ?? state.policy,
        verification: d.verification ?? state.verification,
        extendCode: d.extendCode === undefined ? state.extendCode : (d.extendCode ?? undefined),
      };
    }
    case 'template.disabled.v1':
      return state.exists ? { ...state, enabled: false } : state;
    case 'template.enabled.v1':
      return state.exists ? { ...state, enabled: true } : state;
    default:
      return state;
  }
}

export const templateDecider: Decider<TemplateCommand, TemplateState, TemplateEvent> = {
  decide,
  evolve,
  initialState: () => ({ exists: false }),
};
