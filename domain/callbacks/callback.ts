// The Callback aggregate, stream `callback-<callbackId>`: an endpoint a
// tenant registered to be told of its messages' status changes, inbound
// replies and opt-outs. The callback sender (processors/callbacks) delivers
// to it; what the sender decides about the endpoint (paused after failing
// for too long, a delivery dead-lettered) is recorded here too, so the
// tenant can see why.
//
//   registered ──► updated* ──► deleted
//        │  ▲ resumed (an update, or POST …/resume)
//        └► paused
//
// The URL's syntax is checked here; whether it resolves outside private
// ranges is I/O, checked by platform/callbacks at registration and again at
// each delivery.
import type { Decider, Event } from '../decider.ts';
import { DomainError } from '../errors.ts';
import { requireText, withoutUndefined } from '../checks/index.ts';

export const callbackStream = (callbackId: string): string => `callback-${callbackId}`;

/** What a tenant may subscribe an endpoint to: the `type` of the delivered body. */
export const CALLBACK_EVENT_TYPES = [
  'message.submitted',
  'message.delivered',
  'message.undelivered',
  'message.failed',
  'message.expired',
  'message.cancelled',
  'inbound.received',
  'mobile.opted-out',
] as const;
export type CallbackEventType = (typeof CALLBACK_EVENT_TYPES)[number];
/** The message statuses a `statusCallback` of one send is told of. */
export const MESSAGE_STATUS_EVENTS: readonly CallbackEventType[] = CALLBACK_EVENT_TYPES.filter(
  (t) => t.startsWith('message.'),
);

export const MAX_CALLBACK_URL_LENGTH = 2048;

export type PauseReason = { code: string; message: string };

// events ------------------------------------------------------------------
export type CallbackRegistered = Event<
  'callback.registered.v1',
  {
    callbackId: string;
    tenantId: string;
    url: string;
    events: CallbackEventType[];
    /** The signing secret, sealed (AES-GCM) with the platform's key. */
    sealedSecret: string;
  }
>;
export type CallbackUpdated = Event<
  'callback.updated.v1',
  { callbackId: string; url?: string; events?: CallbackEventType[]; sealedSecret?: string }
>;
export type CallbackDeleted = Event<'callback.deleted.v1', { callbackId: string }>;
export type CallbackPaused = Event<
  'callback.paused.v1',
  { callbackId: string; reason: PauseReason; failingSince: string }
>;
export type CallbackResumed = Event<'callback.resumed.v1', { callbackId: string }>;
export type CallbackTestRequested = Event<
  'callback.test-requested.v1',
  { callbackId: string; testId: string }
>;
export type CallbackReplayRequested = Event<
  'callback.replay-requested.v1',
  { callbackId: string; deliveryIds?: string[] }
>;
export type CallbackDeadLettered = Event<
  'callback.delivery-dead-lettered.v1',
  {
    callbackId: string;
    deliveryId: string;
    eventId: string;
    attempts: number;
    lastError: string;
  }
>;
export type CallbackEvent =
  | CallbackRegistered
  | CallbackUpdated
  | CallbackDeleted
  | CallbackPaused
  | CallbackResumed
  | CallbackTestRequested
  | CallbackReplayRequested
  | CallbackDeadLettered;

// commands ----------------------------------------------------------------
type Owner = { tenantId: string; admin?: boolean };
export type RegisterCallback = {
  type: 'RegisterCallback';
  data: {
    callbackId: string;
    tenantId: string;
    url: string;
    events: readonly string[];
    sealedSecret: string;
  };
};
export type UpdateCallback = {
  type: 'UpdateCallback';
  data: Owner & {
    url?: string | undefined;
    events?: readonly string[] | undefined;
    sealedSecret?: string | undefined;
  };
};
export type DeleteCallback = { type: 'DeleteCallback'; data: Owner };
export type ResumeCallback = { type: 'ResumeCallback'; data: Owner };
export type RequestTest = { type: 'RequestTest'; data: Owner & { testId: string } };
export type RequestReplay = {
  type: 'RequestReplay';
  data: Owner & { deliveryIds?: readonly string[] | undefined };
};
/** The sender's: the endpoint failed for too long. */
export type PauseCallback = {
  type: 'PauseCallback';
  data: { reason: PauseReason; failingSince: string };
};
/** The sender's: a delivery was given up after its retries. */
export type RecordDeadLetter = {
  type: 'RecordDeadLetter';
  data: { deliveryId: string; eventId: string; attempts: number; lastError: string };
};
export type CallbackCommand =
  | RegisterCallback
  | UpdateCallback
  | DeleteCallback
  | ResumeCallback
  | RequestTest
  | RequestReplay
  | PauseCallback
  | RecordDeadLetter;

// state -------------------------------------------------------------------
export type ExistingCallback = {
  exists: true;
  callbackId: string;
  tenantId: string;
  url: string;
  events: CallbackEventType[];
  sealedSecret: string;
  deleted: boolean;
  paused: { reason: PauseReason; failingSince: string } | undefined;
};
export type CallbackState = { exists: false } | ExistingCallback;

/** http(s), no credentials in it, no fragment, at most 2048 characters. */
export function validateCallbackUrl(raw: unknown): string {
  const text = typeof raw === 'string' ? raw.trim() : '';
  const invalid = (reason: string, message: string) =>
    new DomainError('CALLBACK_URL_INVALID', message, { field: 'url', reason });
  if (text.length === 0 || text.length > MAX_CALLBACK_URL_LENGTH) {
    throw invalid('LENGTH', `A callback URL has 1 to ${MAX_CALLBACK_URL_LENGTH} characters.`);
  }
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw invalid('SYNTAX', 'The callback URL is not an absolute URL.');
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') {
    throw invalid('SCHEME', 'A callback URL is http:// or https://.');
  }
  if (url.username || url.password) {
    throw invalid('CREDENTIALS', 'Leave credentials out of the URL; verify the signature instead.');
  }
  if (url.hash) throw invalid('FRAGMENT', 'A callback URL has no #fragment.');
  return url.toString();
}

export function validateCallbackEvents(raw: unknown): CallbackEventType[] {
  const known = new Set<string>(CALLBACK_EVENT_TYPES);
  if (!Array.isArray(raw) || raw.length === 0) {
    throw new DomainError('CALLBACK_EVENTS_INVALID', 'Name at least one event to subscribe to.', {
      field: 'events',
      known: [...CALLBACK_EVENT_TYPES],
    });
  }
  const unknown = raw.filter((e) => typeof e !== 'string' || !known.has(e));
  if (unknown.length > 0) {
    throw new DomainError(
      'CALLBACK_EVENTS_INVALID',
      `Unknown callback events: ${unknown.map(String).join(', ')}.`,
      { field: 'events', unknown: unknown.map(String), known: [...CALLBACK_EVENT_TYPES] },
    );
  }
  // the order of the known list, each once
  return CALLBACK_EVENT_TYPES.filter((t) => raw.includes(t));
}

function requireOwned(state: CallbackState, owner: Owner): ExistingCallback {
  if (!state.exists || state.deleted || (state.tenantId !== owner.tenantId && !owner.admin)) {
    // another tenant's endpoint is not found, rather than forbidden: ids do not leak
    throw new DomainError('CALLBACK_NOT_FOUND', 'No such callback endpoint.');
  }
  return state;
}

const sameList = (a: readonly string[], b: readonly string[]) =>
  a.length === b.length && a.every((x, i) => x === b[i]);

/** The data of one kind of command. */
type DataOf<T extends CallbackCommand['type']> = Extract<CallbackCommand, { type: T }>['data'];

function registerCallback(state: CallbackState, d: DataOf<'RegisterCallback'>): CallbackEvent[] {
  if (state.exists) {
    throw new DomainError('CALLBACK_EXISTS', 'A callback endpoint with that id exists.');
  }
  return [
    {
      type: 'callback.registered.v1',
      data: {
        callbackId: requireText(d.callbackId, 'callbackId'),
        tenantId: requireText(d.tenantId, 'tenantId'),
        url: validateCallbackUrl(d.url),
        events: validateCallbackEvents(d.events),
        sealedSecret: requireText(d.sealedSecret, 'sealedSecret'),
      },
    },
  ];
}

function updateCallback(state: CallbackState, d: DataOf<'UpdateCallback'>): CallbackEvent[] {
  const s = requireOwned(state, d);
  const url = d.url === undefined ? undefined : validateCallbackUrl(d.url);
  const events = d.events === undefined ? undefined : validateCallbackEvents(d.events);
  const change = withoutUndefined({
    url: url !== undefined && url !== s.url ? url : undefined,
    events: events !== undefined && !sameList(events, s.events) ? events : undefined,
    sealedSecret: d.sealedSecret,
  });
  const out: CallbackEvent[] = [];
  if (Object.keys(change).length > 0) {
    out.push({ type: 'callback.updated.v1', data: { callbackId: s.callbackId, ...change } });
  }
  // an update is the tenant's answer to a pause: the endpoint is tried again
  if (s.paused) out.push({ type: 'callback.resumed.v1', data: { callbackId: s.callbackId } });
  return out;
}

function resumeCallback(state: CallbackState, d: DataOf<'ResumeCallback'>): CallbackEvent[] {
  const s = requireOwned(state, d);
  return s.paused ? [{ type: 'callback.resumed.v1', data: { callbackId: s.callbackId } }] : [];
}

function deleteCallback(state: CallbackState, d: DataOf<'DeleteCallback'>): CallbackEvent[] {
  const s = requireOwned(state, d);
  return [{ type: 'callback.deleted.v1', data: { callbackId: s.callbackId } }];
}

function requestTest(state: CallbackState, d: DataOf<'RequestTest'>): CallbackEvent[] {
  const s = requireOwned(state, d);
  return [
    {
      type: 'callback.test-requested.v1',
      data: { callbackId: s.callbackId, testId: requireText(d.testId, 'testId') },
    },
  ];
}

function requestReplay(state: CallbackState, d: DataOf<'RequestReplay'>): CallbackEvent[] {
  const s = requireOwned(state, d);
  const ids = d.deliveryIds;
  if (ids !== undefined && ids.length === 0) {
    throw new DomainError('VALIDATION_FAILED', 'deliveryIds, when given, lists some.', {
      field: 'deliveryIds',
    });
  }
  return [
    {
      type: 'callback.replay-requested.v1',
      data: withoutUndefined({
        callbackId: s.callbackId,
        deliveryIds: ids === undefined ? undefined : [...new Set(ids)],
      }),
    },
  ];
}

function pauseCallback(state: CallbackState, d: DataOf<'PauseCallback'>): CallbackEvent[] {
  // the sender's verdict on an endpoint that is gone or already paused changes nothing
  if (!state.exists || state.deleted || state.paused) return [];
  return [
    {
      type: 'callback.paused.v1',
      data: {
        callbackId: state.callbackId,
        reason: d.reason,
        failingSince: d.failingSince,
      },
    },
  ];
}

function recordDeadLetter(state: CallbackState, d: DataOf<'RecordDeadLetter'>): CallbackEvent[] {
  if (!state.exists) return [];
  return [
    {
      type: 'callback.delivery-dead-lettered.v1',
      data: { callbackId: state.callbackId, ...d },
    },
  ];
}

function decide(command: CallbackCommand, state: CallbackState): CallbackEvent[] {
  switch (command.type) {
    case 'RegisterCallback':
      return registerCallback(state, command.data);
    case 'UpdateCallback':
      return updateCallback(state, command.data);
    case 'ResumeCallback':
      return resumeCallback(state, command.data);
    case 'DeleteCallback':
      return deleteCallback(state, command.data);
    case 'RequestTest':
      return requestTest(state, command.data);
    case 'RequestReplay':
      return requestReplay(state, command.data);
    case 'PauseCallback':
      return pauseCallback(state, command.data);
    case 'RecordDeadLetter':
      return recordDeadLetter(state, command.data);
  }
}

function evolve(state: CallbackState, event: CallbackEvent): CallbackState {
  switch (event.type) {
    case 'callback.registered.v1':
      return { exists: true, ...event.data, deleted: false, paused: undefined };
    case 'callback.updated.v1':
      return state.exists ? { ...state, ...event.data } : state;
    case 'callback.deleted.v1':
      return state.exists ? { ...state, deleted: true } : state;
    case 'callback.paused.v1':
      return state.exists
        ? {
            ...state,
            paused: { reason: event.data.reason, failingSince: event.data.failingSince },
          }
        : state;
    case 'callback.resumed.v1':
      return state.exists ? { ...state, paused: undefined } : state;
    default:
      return state;
  }
}

export const callbackDecider: Decider<CallbackCommand, CallbackState, CallbackEvent> = {
  decide,
  evolve,
  initialState: () => ({ exists: false }),
};
