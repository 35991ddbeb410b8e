// Dispatcher: a Kafka consumer group over sms.dispatch. For each message:
// load its stream, pick an account (failover order, breakers, weights), wait
// for its turn in the account's shared throughput (throttle.ts), claim the
// attempt, call the supplier with a timeout and append the outcome through the message decider. An unknown outcome is
// reconciled through the vendor's query API, never blindly re-sent. A
// submitted message without a receipt has its status pulled (statusPull.ts).
import { setTimeout as sleep } from 'node:timers/promises';
import { randomUUID } from 'node:crypto';
import type { Consumer, EachBatchPayload } from 'kafkajs';
import type { ExistingMessage, MessageCommand } from '../domain/messages/index.ts';
import { open } from '../platform/crypto/index.ts';
import type { EventMetadata, RecordedEvent } from '../platform/eventStore/index.ts';
import { createConsumer, ensureTopics } from '../platform/kafka/index.ts';
import { optionsOf, type ProcessorDeps, type ProcessorOptions, type Running } from './deps.ts';
import { decideAndAppend, loadMessage, type LoadedMessage } from './messages.ts';
import { DispatchState } from './redisState.ts';
import { SupplierRegistry, type RegisteredSupplier } from './registry.ts';
import {
  backoffMs,
  candidates,
  currentAccount,
  nextAccount,
  sendParams,
  vendorTemplateOf,
} from './routing.ts';
import { Batcher } from './batcher.ts';
import { checkAtSendTime } from './sendTime.ts';
import { StatusPuller } from './statusPull.ts';
import { Throttle } from './throttle.ts';
import type { SendOutcome } from './suppliers/index.ts';
import { outage } from '../platform/health/index.ts';
import { performance } from 'node:perf_hooks';
import { histogram } from '../platform/metrics/index.ts';

const throttleWaits = histogram({
  name: 'streaming_throttle_wait_seconds',
  help: "How long messages waited for their turn in a supplier account's throughput cap, by account",
  labelNames: ['account'] as const,
  buckets: [0.001, 0.01, 0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30],
});

/** How long a batch send's message waits for others of its batch to share a vendor call. */
const BATCH_LINGER_MS = 25;

/** Grace after a call's timeout before an unfinished claim counts as abandoned. */
const CLAIM_GRACE_MS = 5_000;

type Step = 'done' | 'again';

export class MessageDispatcher {
  private readonly deps: ProcessorDeps;
  private readonly options: ProcessorOptions;
  private readonly state: DispatchState;
  private readonly registry: SupplierRegistry;
  private readonly owner = randomUUID();
  private readonly inflight = new Map<string, Promise<void>>();
  private readonly throttle: Throttle;
  /** Accounts whose breaker was found open, until when this process skips them. */
  private readonly seenOpen = new Map<string, number>();
  private readonly puller: StatusPuller;
  /** Messages of batch sends share vendor batch calls. */
  private readonly batcher = new Batcher(BATCH_LINGER_MS);
  stopping = false;

  constructor(deps: ProcessorDeps) {
    this.deps = deps;
    this.options = optionsOf(deps);
    this.state = new DispatchState(deps.redis, this.options);
    this.registry = new SupplierRegistry(deps.config.suppliers);
    this.throttle = new Throttle(deps.redis, { prefix: this.options.redisPrefix });
    this.puller = new StatusPuller(deps, this.options, this.state, this.registry);
  }

  stop(): void {
    this.stopping = true;
    this.batcher.flushAll();
    this.throttle.close();
  }

  /** Handles one message id; concurrent calls for the same id run one after the other. */
  handle(messageId: string): Promise<void> {
    const previous = this.inflight.get(messageId) ?? Promise.resolve();
    const next = previous.then(() => this.run(messageId));
    const tracked = next.finally(() => {
      if (this.inflight.get(messageId) === tracked) this.inflight.delete(messageId);
    });
    this.inflight.set(messageId, tracked);
    return tracked;
  }

  private async run(messageId: string): Promise<void> {
    for (let round = 0; round < 10 && !this.stopping; round++) {
      const loaded = await loadMessage(this.deps.eventStore, messageId);
      const s = loaded.state;
      if (!s.exists) return;
      let step: Step;
      if (s.status === 'accepted') step = await this.attempt(s, loaded);
      else if (s.status === 'uncertain') step = await this.reconcile(s, loaded);
      else if (s.status === 'submitted') return this.puller.pull(s, loaded, this.metadata(loaded));
      else return;
      if (step === 'done') return;
    }
  }

  private metadata(loaded: LoadedMessage): Partial<EventMetadata> {
    const first = loaded.events[0];
    const last = loaded.events[loaded.events.length - 1];
    return {
      correlationId: first?.metadata.correlationId ?? first?.eventId,
      causationId: last?.eventId ?? null,
      actor: { type: 'system', id: 'dispatcher' },
    };
  }

  private append(
    s: ExistingMessage,
    loaded: LoadedMessage,
    command: MessageCommand,
  ): Promise<unknown> {
    return decideAndAppend(
      this.deps.eventStore,
      s.messageId,
      command,
      this.metadata(loaded),
      loaded,
    );
  }

  /** The lookup first: a receipt may come back before sms.submitted is appended. */
  private async recordSubmission(
    s: ExistingMessage,
    loaded: LoadedMessage,
    supplierAccount: string,
    supplierMessageId: string,
    extra: { latencyMs: number } | { reconciled: true },
    sharedId = false,
  ): Promise<void> {
    await this.state.rememberSubmission(
      supplierAccount,
      supplierMessageId,
      s.messageId,
      s.accepted.mobile,
      s.accepted.tenantId,
      s.accepted.extendCode,
      0,
      sharedId,
    );
    await this.append(s, loaded, {
      type: 'RecordSubmission',
      data: { supplierAccount, supplierMessageId, ...extra },
    });
  }

  /** Fail over to the next account, or fail with the reason when none is left. */
  private async giveUpOn(
    s: ExistingMessage,
    loaded: LoadedMessage,
    list: string[],
    account: string,
    reason: { code: string; message: string; retriable?: boolean },
  ): Promise<Step> {
    const next = nextAccount(s, list, [account]);
    if (next) {
      await this.append(s, loaded, {
        type: 'RecordFailover',
        data: { fromAccount: account, toAccount: next, reason },
      });
      return 'again';
    }
    await this.append(s, loaded, {
      type: 'RecordFailure',
      data: { supplierAccount: account, reason },
    });
    return 'done';
  }

  private async attempt(s: ExistingMessage, loaded: LoadedMessage): Promise<Step> {
    // 0. a scheduled send (sendAt, quiet hours) never leaves before its time
    if (s.notBefore !== undefined) {
      const due = Date.parse(s.notBefore);
      if (due > Date.now()) {
        await this.state.schedule(s.messageId, due);
        return 'done';
      }
    }
    // 0b. its limits are reserved now, at send time; a refusal fails it with the rule
    if (!s.limitsReserved) {
      const check = await checkAtSendTime(this.deps, this.options, s);
      await this.append(
        s,
        loaded,
        check.ok
          ? { type: 'RecordLimitsReserved', data: { reservedAt: new Date().toISOString() } }
          : { type: 'RecordFailure', data: { reason: check.reason } },
      );
      return check.ok ? 'again' : 'done';
    }
    // 1. a retry not due yet waits for its timer
    if (s.retryDueAt !== undefined) {
      const due = Date.parse(s.retryDueAt);
      if (due > Date.now() + 20) {
        await this.state.schedule(s.messageId, due);
        return 'done';
      }
    }
    // 2. choose the account
    const list = candidates(s, this.deps.config.defaultSuppliers);
    const account = currentAccount(s, list, this.registry.weights);
    if (account === undefined) {
      await this.append(s, loaded, {
        type: 'RecordFailure',
        data: {
          reason: s.lastReason ?? { code: 'NO_SUPPLIER', message: 'no supplier account left' },
        },
      });
      return 'done';
    }
    const supplier = this.registry.get(account);
    if (!supplier) {
      return this.giveUpOn(s, loaded, list, account, {
        code: 'UNKNOWN_SUPPLIER_ACCOUNT',
        message: `account ${account} is not configured`,
      });
    }
    // 3. an account seen open a moment ago fails over without waiting for its turn
    if ((this.seenOpen.get(account) ?? 0) > Date.now()) {
      return this.breakerOpen(s, loaded, list, account);
    }
    // 4. this message's turn in the account's throughput, shared by every
    // dispatcher: reserved in batches and slept until, never polled
    const waitStart = performance.now();
    const turn = await this.throttle.acquire(account, supplier.config.maxPerSecond);
    throttleWaits.observe({ account }, (performance.now() - waitStart) / 1000);
    if (!turn) return 'done';
    if (this.stopping) return 'done';
    // 5. in one round trip: skip an open breaker, claim this attempt so nobody else sends it
    const claim = { owner: this.owner, account, at: Date.now() };
    const admission = await this.state.admit(account, s.messageId, s.attempts, claim);
    if (admission.kind === 'open') {
      this.seenOpen.set(account, Date.now() + Math.min(1_000, this.options.breakerCooldownMs));
      return this.breakerOpen(s, loaded, list, account);
    }
    if (admission.kind === 'claimed') return this.contended(s, loaded, admission.claim, supplier);
    // 6. call
    const outcome = await this.send(s, supplier);
    return this.recordOutcome(s, loaded, list, supplier, outcome);
  }

  private breakerOpen(
    s: ExistingMessage,
    loaded: LoadedMessage,
    list: string[],
    account: string,
  ): Promise<Step> {
    const reason = { code: 'BREAKER_OPEN', message: 'circuit breaker open', retriable: true };
    if (nextAccount(s, list, [account])) return this.giveUpOn(s, loaded, list, account, reason);
    return this.retryLater(s, loaded, list, account, reason, this.options.breakerCooldownMs);
  }

  /** Someone else claimed the attempt: wait for it, or treat an abandoned claim as uncertain. */
  private async contended(
    s: ExistingMessage,
    loaded: LoadedMessage,
    claim: { owner: string; account: string; at: number },
    supplier: RegisteredSupplier,
  ): Promise<Step> {
    const deadline = claim.at + supplier.config.timeoutMs + CLAIM_GRACE_MS;
    if (Date.now() < deadline) {
      await this.state.schedule(s.messageId, deadline + 100);
      return 'done';
    }
    const account = this.registry.get(claim.account) ? claim.account : supplier.config.id;
    await this.append(s, loaded, {
      type: 'RecordUncertain',
      data: {
        supplierAccount: account,
        reason: {
          code: 'DISPATCHER_LOST',
          message: 'a dispatcher stopped in the middle of the call',
          retriable: false,
        },
      },
    });
    await this.state.schedule(s.messageId, Date.now() + this.options.reconcileDelayMs);
    return 'done';
  }

  private async send(s: ExistingMessage, supplier: RegisteredSupplier): Promise<SendOutcome> {
    const a = s.accepted;
    let openedParams: Record<string, string> | undefined;
    let openedContent: string | undefined;
    if (a.sealedParams !== undefined || a.sealedContent !== undefined) {
      try {
        // in memory only, right before the call
        const key = this.deps.config.codes.encryptionKey;
        if (a.sealedParams !== undefined) {
          openedParams = JSON.parse(open(key, a.sealedParams, a.messageId)) as Record<
            string,
            string
          >;
        }
        if (a.sealedContent !== undefined) openedContent = open(key, a.sealedContent, a.messageId);
      } catch {
        return {
          kind: 'rejected',
          code: 'LOCAL.SEALED_CONTENT_INVALID',
          message: 'the sealed code cannot be opened with the configured key',
          latencyMs: 0,
        };
      }
    }
    const req = {
      messageId: a.messageId,
      mobile: a.mobile,
      signature: a.signature ?? supplier.config.signName,
      ...vendorTemplateOf(a, supplier.config.id),
      params: sendParams(a.params, openedParams),
      content: openedContent ?? a.content ?? '',
      ...(a.extendCode ? { extendCode: a.extendCode } : {}),
    };
    // a batch send's messages go in the vendor's batch calls, each with its own outcome
    const outcome =
      a.batchId !== undefined && Batcher.batches(supplier.adapter)
        ? await this.batcher.send(supplier.config.id, supplier.adapter, req)
        : await supplier.adapter.send(req);
    this.deps.tracker.track({
      type: 'supplier.call',
      messageId: a.messageId,
      tenantId: a.tenantId,
      templateCode: a.templateCode,
      supplierAccount: supplier.config.id,
      vendor: supplier.config.vendor,
      latencyMs: outcome.latencyMs,
      outcome: outcome.kind,
      code: outcome.kind === 'accepted' ? 'OK' : outcome.code,
    });
    const opened = await this.state
      .recordCall(supplier.config.id, outcome.kind === 'accepted' || outcome.kind === 'rejected')
      .catch(() => false);
    if (opened) {
      this.seenOpen.set(
        supplier.config.id,
        Date.now() + Math.min(1_000, this.options.breakerCooldownMs),
      );
    }
    return outcome;
  }

  private async retryLater(
    s: ExistingMessage,
    loaded: LoadedMessage,
    list: string[],
    account: string,
    reason: { code: string; message: string; retriable?: boolean },
    minDelayMs = 0,
  ): Promise<Step> {
    const retries = s.currentAccount === account ? s.accountAttempts : 0;
    if (retries >= this.options.maxRetriesPerAccount) {
      return this.giveUpOn(s, loaded, list, account, reason);
    }
    const delay = Math.max(
      minDelayMs,
      backoffMs(retries, this.options.retryBaseMs, this.options.retryMaxMs),
    );
    const due = Date.now() + delay;
    await this.append(s, loaded, {
      type: 'ScheduleRetry',
      data: { supplierAccount: account, dueAt: new Date(due).toISOString(), reason },
    });
    await this.state.schedule(s.messageId, due);
    return 'done';
  }

  private async recordOutcome(
    s: ExistingMessage,
    loaded: LoadedMessage,
    list: string[],
    supplier: RegisteredSupplier,
    outcome: SendOutcome,
  ): Promise<Step> {
    const account = supplier.config.id;
    switch (outcome.kind) {
      case 'accepted':
        await this.recordSubmission(
          s,
          loaded,
          account,
          outcome.supplierMessageId,
          { latencyMs: outcome.latencyMs },
          outcome.sharedId === true,
        );
        return 'done';
      case 'rejected':
        if (outcome.recipient) {
          // about the number or its own limits: another supplier would dodge the limit
          await this.append(s, loaded, {
            type: 'RecordFailure',
            data: {
              supplierAccount: account,
              reason: { code: outcome.code, message: outcome.message, retriable: false },
            },
          });
          return 'done';
        }
        return this.giveUpOn(s, loaded, list, account, {
          code: outcome.code,
          message: outcome.message,
          retriable: false,
        });
      case 'transient':
        return this.retryLater(s, loaded, list, account, {
          code: outcome.code,
          message: outcome.message,
          retriable: true,
        });
      case 'unknown':
        await this.append(s, loaded, {
          type: 'RecordUncertain',
          data: {
            supplierAccount: account,
            reason: { code: outcome.code, message: outcome.message, retriable: false },
          },
        });
        await this.state.schedule(s.messageId, Date.now() + this.options.reconcileDelayMs);
        return 'done';
    }
  }

  /** Ask the vendor what became of an uncertain submission. */
  private async reconcile(s: ExistingMessage, loaded: LoadedMessage): Promise<Step> {
    const account = s.supplierAccount ?? s.currentAccount;
    const supplier = account === undefined ? undefined : this.registry.get(account);
    const uncertainAt =
      lastOf(loaded.events, 'sms.submission-uncertain.v1')?.recordedAt ?? new Date();
    if (!supplier) {
      await this.append(s, loaded, {
        type: 'RecordFailure',
        data: { reason: { code: 'UNKNOWN_SUPPLIER_ACCOUNT', message: 'cannot reconcile' } },
      });
      return 'done';
    }
    const sentAt = new Date(uncertainAt.getTime() - supplier.config.timeoutMs - CLAIM_GRACE_MS);
    const q = await supplier.adapter.query({
      messageId: s.messageId,
      mobile: s.accepted.mobile,
      ...(s.supplierMessageId ? { supplierMessageId: s.supplierMessageId } : {}),
      sentAt,
    });
    const elapsed = Date.now() - uncertainAt.getTime();
    if (q.kind === 'found') {
      // Aliyun's query carries no BizId; its receipts match by out_id instead.
      const supplierMessageId = q.supplierMessageId ?? `outid:${s.messageId}`;
      await this.recordSubmission(s, loaded, supplier.config.id, supplierMessageId, {
        reconciled: true,
      });
      if (q.status !== 'pending') {
        const base = { supplierAccount: supplier.config.id, supplierMessageId };
        await decideAndAppend(
          this.deps.eventStore,
          s.messageId,
          q.status === 'delivered'
            ? {
                type: 'RecordDelivery',
                data: { ...base, deliveredAt: new Date().toISOString() },
              }
            : {
                type: 'RecordUndelivered',
                data: {
                  ...base,
                  reason: { code: q.errorCode ?? 'UNDELIVERED', message: 'reported by query' },
                },
              },
          this.metadata(loaded),
        );
      }
      return 'done';
    }
    if (q.kind === 'not_found' && q.conclusive && elapsed >= this.options.reconcileWindowMs) {
      // The vendor still has no record a reconcile window after the call (its
      // query lags behind its sends): sending is safe, once.
      const claimed = await this.state.claim(s.messageId, -s.attempts, {
        owner: this.owner,
        account: supplier.config.id,
        at: Date.now(),
      });
      if (!claimed) {
        const outcome = await this.send(s, supplier);
        if (outcome.kind === 'accepted') {
          await this.recordSubmission(s, loaded, supplier.config.id, outcome.supplierMessageId, {
            latencyMs: outcome.latencyMs,
          });
          return 'done';
        }
        if (outcome.kind === 'rejected') {
          await this.append(s, loaded, {
            type: 'RecordFailure',
            data: {
              supplierAccount: supplier.config.id,
              reason: { code: outcome.code, message: outcome.message },
            },
          });
          return 'done';
        }
        // transient or unknown again: keep reconciling (the re-send claim stays taken)
      }
    }
    // Tencent's pull lists only reported sends: absence is never proof, so it
    // is pulled until the expiry like any submitted message
    if (elapsed >= this.options.receiptExpireAfterMs) {
      await this.append(s, loaded, {
        type: 'RecordExpiry',
        data: {
          expiredAt: new Date().toISOString(),
          reason: {
            code: 'SUBMISSION_UNRESOLVED',
            message: 'the vendor never confirmed or denied the submission',
          },
        },
      });
      return 'done';
    }
    // at least once a minute for the first ten minutes (or the window), then thinning out
    const cap =
      elapsed < Math.max(this.options.reconcileWindowMs, 600_000) ? 60_000 : 6 * 3_600_000;
    const delay = Math.min(
      cap,
      Math.max(this.options.reconcileDelayMs, elapsed / 2),
      Math.max(1, this.options.receiptExpireAfterMs - elapsed),
    );
    await this.state.schedule(s.messageId, Date.now() + delay);
    return 'done';
  }
}

function lastOf(events: RecordedEvent[], type: string): RecordedEvent | undefined {
  for (let i = events.length - 1; i >= 0; i--) if (events[i]!.type === type) return events[i];
  return undefined;
}

function parseMessageId(value: Buffer | null): string | undefined {
  if (!value) return undefined;
  try {
    const v = JSON.parse(value.toString()) as { messageId?: unknown };
    return typeof v.messageId === 'string' && v.messageId !== '' ? v.messageId : undefined;
  } catch {
    return undefined;
  }
}

/** At most `limit` tasks at a time, shared by every partition's batch. */
export class Limiter {
  private active = 0;
  private readonly waiting: (() => void)[] = [];
  private readonly limit: number;

  constructor(limit: number) {
    this.limit = Math.max(1, limit);
  }

  async run<T>(task: () => Promise<T>): Promise<T> {
    if (this.active >= this.limit) await new Promise<void>((r) => this.waiting.push(r));
    else this.active++;
    try {
      return await task();
    } finally {
      const next = this.waiting.shift();
      if (next) next();
      else this.active--;
    }
  }
}

export async function startDispatcher(deps: ProcessorDeps): Promise<Running> {
  const options = optionsOf(deps);
  const log = deps.logger.child({ component: 'dispatcher' });
  await ensureTopics(deps.kafka, [
    { topic: options.dispatchTopic, numPartitions: options.dispatchPartitions },
  ]);
  const limiter = new Limiter(options.concurrency);
  const dispatcher = new MessageDispatcher(deps);
  // A partition's next batch is fetched once this one is done: while its
  // messages wait for their accounts' turns the partition is paused, and a
  // batch is a few hundred records, not thousands.
  const consumer: Consumer = await createConsumer(deps.kafka, {
    groupId: options.groupId,
    maxBytesPerPartition: 64 * 1024,
  });
  await consumer.subscribe({ topic: options.dispatchTopic, fromBeginning: true });

  // readiness: messages in work, and a counter that moves as they finish
  let inWork = 0;
  let finished = 0;
  const part = deps.pipeline?.register('dispatcher', 'processor', {
    pending: () => inWork,
    completed: () => finished,
  });
  part?.setActive(true);
  consumer.on(consumer.events.CRASH, (e) => part?.failed(e.payload.error));
  consumer.on(consumer.events.GROUP_JOIN, () => part?.ok());
  // one line when dispatching starts failing (e.g. the event store is down), one when it works again
  const failing = outage(log, 'dispatcher', 'a dependency of its messages');

  const handleOne = async (messageId: string): Promise<void> => {
    inWork++;
    try {
      for (let tries = 0; !dispatcher.stopping; tries++) {
        try {
          await dispatcher.handle(messageId);
          failing.ok();
          part?.ok();
          return;
        } catch (err) {
          failing.failed(err);
          part?.failed(err);
          log.debug('dispatch failed; retrying', { messageId, err: String(err) });
          await sleep(Math.min(5_000, 200 * 2 ** Math.min(tries, 5)));
        }
      }
    } finally {
      inWork--;
      finished++;
    }
  };

  await consumer.run({
    autoCommit: true,
    autoCommitInterval: 1_000,
    eachBatchAutoResolve: false,
    // every partition's batch side by side; the limiter bounds the messages in work
    partitionsConsumedConcurrently: Math.max(1, options.dispatchPartitions),
    eachBatch: async ({
      batch,
      resolveOffset,
      heartbeat,
      isRunning,
      isStale,
    }: EachBatchPayload) => {
      const ids = new Set<string>();
      for (const m of batch.messages) {
        const id = parseMessageId(m.value);
        if (id) ids.add(id);
      }
      // A heartbeat after disconnect() would open a new connection to the coordinator
      // and keep the process alive: none once stopping.
      const beat = setInterval(() => {
        if (!dispatcher.stopping) void heartbeat().catch(() => undefined);
      }, 1_000);
      try {
        await Promise.all([...ids].map((id) => limiter.run(() => handleOne(id))));
      } finally {
        clearInterval(beat);
      }
      if (dispatcher.stopping || !isRunning() || isStale()) return;
      const last = batch.messages[batch.messages.length - 1];
      if (last) resolveOffset(last.offset);
      if (!dispatcher.stopping) await heartbeat();
    },
  });
  log.info('dispatcher running', { topic: options.dispatchTopic, groupId: options.groupId });

  return {
    async close() {
      dispatcher.stop();
      await consumer.disconnect();
      part?.close();
    },
  };
}
