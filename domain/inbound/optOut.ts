// Opt-out per tenant and number, stream `optout-<tenantId>-<e164>`: a STOP-style
// reply or the tenant's POST /v1/opt-outs opts the number out of the tenant's
// marketing templates; a START-style reply or DELETE /v1/opt-outs/{mobile}
// opts it back in. Both are recorded. A reply pushed again by the vendor
// changes nothing (its inbound id was seen), so a repeated STOP never undoes a
// later START.
import type { Decider, Event } from '../decider.ts';
import { requireText, withoutUndefined } from '../checks/index.ts';

export const optOutStream = (tenantId: string, e164: string): string =>
  `optout-${tenantId}-${e164}`;

/** The keyword recorded for an opt-out or opt-in through the tenant's API. */
export const API_KEYWORD = 'API';

export type MobileOptedOut = Event<
  'mobile.opted-out.v1',
  { tenantId: string; mobile: string; keyword: string; inboundId?: string }
>;
export type MobileOptedIn = Event<
  'mobile.opted-in.v1',
  { tenantId: string; mobile: string; keyword: string; inboundId?: string }
>;
export type OptOutEvent = MobileOptedOut | MobileOptedIn;

type OptData = {
  tenantId: string;
  mobile: string;
  keyword: string;
  inboundId?: string | undefined;
};
export type OptOut = { type: 'OptOut'; data: OptData };
export type OptIn = { type: 'OptIn'; data: OptData };
export type OptOutCommand = OptOut | OptIn;

export type OptOutState = {
  optedOut: boolean;
  keyword: string | undefined;
  inboundId: string | undefined;
  /** Inbound replies already applied (a vendor may push one again). */
  seenInbound: string[];
};

function decide(command: OptOutCommand, state: OptOutState): OptOutEvent[] {
  const d = command.data;
  if (d.inboundId !== undefined && state.seenInbound.includes(d.inboundId)) return [];
  const optingOut = command.type === 'OptOut';
  if (state.optedOut === optingOut) return [];
  const data = withoutUndefined({
    tenantId: requireText(d.tenantId, 'tenantId'),
    mobile: requireText(d.mobile, 'mobile'),
    keyword: requireText(d.keyword, 'keyword'),
    inboundId: d.inboundId,
  });
  return [optingOut ? { type: 'mobile.opted-out.v1', data } : { type: 'mobile.opted-in.v1', data }];
}

function evolve(state: OptOutState, event: OptOutEvent): OptOutState {
  const seen =
    event.data.inboundId === undefined
      ? state.seenInbound
      : [...state.seenInbound, event.data.inboundId].slice(-50);
  switch (event.type) {
    case 'mobile.opted-out.v1':
      return {
        optedOut: true,
        keyword: event.data.keyword,
        inboundId: event.data.inboundId,
        seenInbound: seen,
      };
    case 'mobile.opted-in.v1':
      return { optedOut: false, keyword: undefined, inboundId: undefined, seenInbound: seen };
    default:
      return state;
  }
}

export const optOutDecider: Decider<OptOutCommand, OptOutState, OptOutEvent> = {
  decide,
  evolve,
  initialState: () => ({
    optedOut: false,
    keyword: undefined,
    inboundId: undefined,
    seenInbound: [],
  }),
};
