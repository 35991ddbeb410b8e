// Pure choices of the dispatcher: which account to call, when to retry.
import type { ExistingMessage } from '../domain/messages/index.ts';

export interface RoutingAccount {
  id: string;
  weight: number;
}

/** The accounts a message may use, in failover order (the template's, else the defaults). */
export function candidates(state: ExistingMessage, defaults: readonly string[]): string[] {
  const own = state.accepted.suppliers;
  return own.length > 0 ? [...own] : [...defaults];
}

/**
 * The account to call now. Before the first call, accounts of the list with
 * configured weights share first calls in proportion (all weights 1 means the
 * list order decides); after that, the decider's current account.
 */
export function currentAccount(
  state: ExistingMessage,
  list: readonly string[],
  weights: ReadonlyMap<string, number>,
  random: () => number = Math.random,
): string | undefined {
  if (state.attempts > 0 || state.triedAccounts.length > 0) {
    return state.currentAccount ?? list.find((a) => !state.triedAccounts.includes(a));
  }
  const ws = list.map((a) => weights.get(a) ?? 1);
  if (ws.every((w) => w === 1)) return list[0];
  const total = ws.reduce((a, b) => a + b, 0);
  let r = random() * total;
  for (const [i, a] of list.entries()) {
    r -= ws[i] ?? 1;
    if (r < 0) return a;
  }
  return list[list.length - 1];
}

/** The next account to fail over to: the first in order not tried yet. */
export function nextAccount(
  state: ExistingMessage,
  list: readonly string[],
  exclude: readonly string[],
): string | undefined {
  return list.find((a) => !state.triedAccounts.includes(a) && !exclude.includes(a));
}

/**
 * The vendor template the account sends this message with, and its parameter
 * order; messages accepted before bindings existed carry our code as is.
 */
export function vendorTemplateOf(
  accepted: ExistingMessage['accepted'],
  account: string,
): { templateCode: string; paramOrder?: string[] } {
  const bound = accepted.vendorTemplates?.[account];
  if (!bound) return { templateCode: accepted.templateCode };
  return { templateCode: bound.id, paramOrder: [...bound.params] };
}

/** Exponential backoff with jitter: base * 2^n, capped, times a factor in [0.5, 1). */
export function backoffMs(
  retry: number,
  baseMs: number,
  maxMs: number,
  random: () => number = Math.random,
): number {
  const raw = Math.min(maxMs, baseMs * 2 ** Math.max(0, retry));
  return Math.max(1, Math.round(raw * (0.5 + random() * 0.5)));
}

/**
 * The params to send. A verification message carries its real params (the
 * code included) sealed in `sealedParams`; they are opened in memory right
 * before the call, and the masked `params` of the event are never sent.
 */
export function sendParams(
  params: Readonly<Record<string, string>> | undefined,
  openedParams: Readonly<Record<string, string>> | undefined,
): Record<string, string> {
  return { ...(openedParams ?? params) };
}
