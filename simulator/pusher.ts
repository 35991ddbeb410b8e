// Pushes receipts and inbound messages to the accounts' webhooks the way the
// vendors do: POST JSON, a little batching, and a few retries with backoff
// when the receiver does not answer 200.
import { chance } from './rng.ts';
import type { SimAccount } from './state.ts';

interface Batch {
  account: SimAccount;
  url: string;
  items: unknown[];
  timer: NodeJS.Timeout | undefined;
}

const RETRY_STEPS = [1, 5, 10, 30, 60];
const PUSH_TIMEOUT_MS = 5_000;

export class Pusher {
  private readonly batches = new Map<string, Batch>();
  /** Pending retry waits: timer -> its resolver, so close() can end them. */
  private readonly waits = new Map<NodeJS.Timeout, () => void>();
  private readonly inFlight = new Set<Promise<boolean>>();
  private closed = false;
  /** Bumped by reset() and close(): pushes of an older generation stop retrying. */
  private generation = 0;

  /** Queue one receipt item; it leaves with its batch. */
  enqueueReceipt(account: SimAccount, url: string, item: unknown): void {
    if (this.closed) return;
    const key = `${account.id}\0${url}`;
    let batch = this.batches.get(key);
    if (!batch) {
      batch = { account, url, items: [], timer: undefined };
      this.batches.set(key, batch);
    }
    batch.items.push(item);
    if (batch.items.length >= account.behaviour.pushBatchSize) {
      this.flush(key);
    } else if (!batch.timer) {
      batch.timer = setTimeout(() => this.flush(key), account.behaviour.pushBatchWindowMs);
    }
  }

  private flush(key: string): void {
    const batch = this.batches.get(key);
    if (!batch) return;
    this.batches.delete(key);
    if (batch.timer) clearTimeout(batch.timer);
    const { account } = batch;
    const items = [...batch.items];
    if (account.behaviour.reorderReceipts) {
      for (let i = items.length - 1; i > 0; i--) {
        const j = Math.floor(account.receiptRng() * (i + 1));
        [items[i], items[j]] = [items[j], items[i]];
      }
    }
    void this.push(account, batch.url, items, items.length, 'receipt');
  }

  /** POST a body with retries; resolves true once a push was acknowledged. */
  push(
    account: SimAccount,
    url: string,
    body: unknown,
    count: number,
    kind: 'receipt' | 'inbound',
  ): Promise<boolean> {
    const p = this.attempt(account, url, JSON.stringify(body), count, kind, 0, this.generation);
    this.inFlight.add(p);
    void p.finally(() => this.inFlight.delete(p));
    return p;
  }

  private async attempt(
    account: SimAccount,
    url: string,
    body: string,
    count: number,
    kind: 'receipt' | 'inbound',
    retry: number,
    generation: number,
  ): Promise<boolean> {
    if (generation !== this.generation) return false;
    account.stats.pushAttempts++;
    let ok: boolean;
    try {
      const res = await fetch(url, {
        method: 'POST',
        headers: { 'content-type': 'application/json; charset=utf-8' },
        body,
        signal: AbortSignal.timeout(PUSH_TIMEOUT_MS),
      });
      await res.arrayBuffer();
      ok = res.status === 200;
    } catch {
      ok = false;
    }
    if (ok) {
      if (kind === 'receipt') account.stats.receiptsPushed += count;
      else account.stats.inboundPushed += count;
      return true;
    }
    account.stats.pushFailures++;
    if (retry >= account.behaviour.pushRetries || generation !== this.generation) return false;
    const step = RETRY_STEPS[Math.min(retry, RETRY_STEPS.length - 1)] ?? 1;
    await new Promise<void>((resolve) => {
      const t = setTimeout(() => {
        this.waits.delete(t);
        resolve();
      }, account.behaviour.pushRetryBaseMs * step);
      this.waits.set(t, resolve);
    });
    return this.attempt(account, url, body, count, kind, retry + 1, generation);
  }

  /** Decide drop / duplicate for one receipt and queue it. */
  deliverReceipt(account: SimAccount, item: unknown): void {
    const url = account.receiptUrl;
    if (!url) return;
    if (chance(account.receiptRng, account.behaviour.dropReceiptRate)) {
      account.stats.receiptsDropped++;
      return;
    }
    this.enqueueReceipt(account, url, item);
    if (chance(account.receiptRng, account.behaviour.duplicateReceiptRate)) {
      account.stats.receiptsDuplicated++;
      this.enqueueReceipt(account, url, item);
    }
  }

  /** Wait until nothing is queued or being pushed (for tests). */
  async idle(): Promise<void> {
    for (;;) {
      for (const key of [...this.batches.keys()]) this.flush(key);
      if (this.inFlight.size === 0) return;
      await Promise.allSettled([...this.inFlight]);
    }
  }

  /** Drop queued batches and abandon retries of pushes already started. */
  reset(): void {
    this.generation++;
    for (const b of this.batches.values()) if (b.timer) clearTimeout(b.timer);
    this.batches.clear();
    for (const [t, resolve] of this.waits) {
      clearTimeout(t);
      resolve();
    }
    this.waits.clear();
  }

  close(): void {
    this.closed = true;
    this.generation++;
    for (const b of this.batches.values()) if (b.timer) clearTimeout(b.timer);
    this.batches.clear();
    for (const [t, resolve] of this.waits) {
      clearTimeout(t);
      resolve();
    }
    this.waits.clear();
  }
}
