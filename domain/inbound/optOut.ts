// Opt-out per tenant and number, stream `optout-<tenantId>-<e164>`.
import type { Decider, Event } from '../decider.ts';
import { requireText, withoutUndefined } from '../checks/index.ts';

export const optOutStream = (tenantId: string, e164: string): string =>
  `optout-${tenantId}-${e164}`;

export type MobileOptedOut = Event<
  'mobile.opted-out.v1',
  { tenantId: string; mobile: string; keyword: string; inboundId?: string }
>;
export type OptOutEvent = MobileOptedOut;

export type OptOut = {
  type: 'OptOut';
  data: { tenantId: string; mobile: string; keyword: string; inboundId?: string | undefined };
};
export type OptOutCommand = OptOut;

export type OptOutState = {
  optedOut: boolean;
  keyword: string | undefined;
  inboundId: string | undefined;
};

function decide(command: OptOutCommand, state: OptOutState): OptOutEvent[] {
  switch (command.type) {
    case 'OptOut': {
      if (state.optedOut) return [];
      const d = command.data;
      return [
        {
          type: 'mobile.opted-out.v1',
          data: withoutUndefined({
            tenantId: requireText(d.tenantId, 'tenantId'),
            mobile: requireText(d.mobile, 'mobile'),
            keyword: requireText(d.keyword, 'keyword'),
            inboundId: d.inboundId,
          }),
        },
      ];
    }
  }
}

function evolve(state: OptOutState, event: OptOutEvent): OptOutState {
  switch (event.type) {
    case 'mobile.opted-out.v1':
      return { optedOut: true, keyword: event.data.keyword, inboundId: event.data.inboundId };
    default:
      return state;
  }
}

export const optOutDecider: Decider<OptOutCommand, OptOutState, OptOutEvent> = {
  decide,
  evolve,
  initialState: () => ({ optedOut: false, keyword: undefined, inboundId: undefined }),
};
