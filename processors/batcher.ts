// Vendor batch calls for batch sends: messages of a batch (POST
// /v1/messages/batch) that go through one account with what its vendor's
// batch API lets them share (Tencent SendSms: template, signature and
// parameters, up to 200 numbers; Aliyun SendBatchSms: the template, up to
// 100) wait a few milliseconds for each other and go in one call. Each
// message gets its own number's outcome back, so the dispatcher records it
// as if it had been sent alone.
import type { SendOutcome, SendRequest, SupplierAdapter } from '../suppliers/index.ts';

interface Waiting {
  req: SendRequest;
  resolve: (outcome: SendOutcome) => void;
}

interface Group {
  adapter: SupplierAdapter;
  items: Waiting[];
  mobiles: Set<string>;
  timer: ReturnType<typeof setTimeout>;
}

export class Batcher {
  private readonly groups = new Map<string, Group>();
  private readonly lingerMs: number;

  constructor(lingerMs: number) {
    this.lingerMs = lingerMs;
  }

  /** True when the account's adapter has a batch API. */
  static batches(adapter: SupplierAdapter): boolean {
    return (
      adapter.sendBatch !== undefined &&
      adapter.batchKey !== undefined &&
      (adapter.maxBatch ?? 0) > 1
    );
  }

  send(account: string, adapter: SupplierAdapter, req: SendRequest): Promise<SendOutcome> {
    const key = `${account}\0${adapter.batchKey!(req)}`;
    let group = this.groups.get(key);
    // a number once per call: the vendor answers per number
    if (group && group.mobiles.has(req.mobile)) {
      this.flush(key, group);
      group = undefined;
    }
    if (!group) {
      const created: Group = {
        adapter,
        items: [],
        mobiles: new Set(),
        timer: setTimeout(() => this.flush(key, created), this.lingerMs),
      };
      group = created;
      this.groups.set(key, created);
    }
    const g = group;
    return new Promise<SendOutcome>((resolve) => {
      g.items.push({ req, resolve });
      g.mobiles.add(req.mobile);
      if (g.items.length >= (adapter.maxBatch ?? 1)) this.flush(key, g);
    });
  }

  private flush(key: string, group: Group): void {
    clearTimeout(group.timer);
    if (this.groups.get(key) === group) this.groups.delete(key);
    const items = group.items;
    if (items.length === 0) return;
    group.adapter.sendBatch!(items.map((i) => i.req)).then(
      (outcomes) =>
        items.forEach((item, i) =>
          item.resolve(
            outcomes[i] ?? {
              kind: 'unknown',
              code: 'NO_BATCH_OUTCOME',
              message: 'the batch call gave no outcome for this number',
              latencyMs: 0,
            },
          ),
        ),
      // it may have left: reconciled, never re-sent blindly
      (err: unknown) =>
        items.forEach((item) =>
          item.resolve({
            kind: 'unknown',
            code: 'BATCH_CALL_FAILED',
            message: String(err),
            latencyMs: 0,
          }),
        ),
    );
  }

  /** Sends what waits now (stopping). */
  flushAll(): void {
    for (const [key, group] of [...this.groups]) this.flush(key, group);
  }
}
