// Dispatcher: a Kafka consumer group over sms.dispatch. For each message:
// load its stream, pick an account (failover order, breakers, weights), wait
// for its turn in the account's shared throughput (throttle.ts), claim the
// attempt, call the supplier with a timeout and append the outcome through the message decider. An unknown outcome is
// reconciled through the vendor's query API, never blindly re-sent. A
// submitted message without a receipt has its status pulled (statusPull.ts).
import { setTimeout as sleep } from 'node:timers/promises';
import { randomUUID } from 'node:crypto';
import type { EachBatchPayload } from 'kafkajs';
import type { ExistingMessage, MessageCommand } from '../domain/messages/index.ts';
import { open } from '../platform/crypto/index.ts';
import type { EventMetadata, RecordedEvent } from '../platform/eventStore/index.ts';
import { createConsumer, ensureTopics, runSupervisedConsumer } from '../platform/kafka/index.ts';
import { optionsOf, type ProcessorDeps, type ProcessorOptions, type Running } from './deps.ts';
import { decideAndAppend, loadMessage, type LoadedMessage } from './messages.ts';
import { DispatchState } from './redisState.ts';
import { SupplierRegistry, type RegisteredSupplier } from './registry.ts';
import { sendParams, vendorTemplateOf } from './routing.ts';
import { nextStep, type Outcome, type PolicyOptions, type Step } from './dispatchPolicy.ts';
import { Batcher } from './batcher.ts';
import { checkAtSendTime } from './sendTime.ts';
import { StatusPuller } from './statusPull.ts';
import { Throttle } from './throttle.ts';
import type { QueryOutcome, SendOutcome } from '../suppliers/index.ts';
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

/** After a round: done with the message for now, or load it and go again. */
type Round = 'done' | 'again';

/** One message in one round: its state and the events it was folded from. */
interface Job {
  s: ExistingMessage;
  loaded: LoadedMessage;
}

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
      const job: Job = { s, loaded };
      let result: Round;
      if (s.status === 'accepted') result = await this.attempt(job);
      else if (s.status === 'uncertain') result = await this.reconcile(job);
      else if (s.status === 'submitted') return this.puller.pull(s, loaded, metadataOf(loaded));
      else return;
      if (result === 'done') return;
    }
  }

  private policy(): PolicyOptions {
    const o = this.options;
    return {
      now: Date.now(),
      defaultSuppliers: this.deps.config.defaultSuppliers,
      weights: this.registry.weights,
      maxRetriesPerAccount: o.maxRetriesPerAccount,
      retryBaseMs: o.retryBaseMs,
      retryMaxMs: o.retryMaxMs,
      breakerCooldownMs: o.breakerCooldownMs,
      reconcileDelayMs: o.reconcileDelayMs,
    };
  }

  /** An accepted message: nextStep decides, this performs its effects, then applies the step. */
  private async attempt(job: Job): Promise<Round> {
    let step = nextStep(job.s, { kind: 'loaded' }, this.policy());
    while (step.effect) {
      const outcome =
        step.effect.kind === 'check'
          ? await this.check(job)
          : await this.sendThrough(job, step.effect.account);
      if (outcome === undefined) return 'done'; // stopping: the message stays as it is
      step = nextStep(job.s, outcome, this.policy());
    }
    return this.apply(job, step);
  }

  /** Appends the step's command (look-ups first for a submission), then sets its timer. */
  private async apply(job: Job, step: Step): Promise<Round> {
    const command = step.command;
    if (command) {
      if (step.lookups && command.type === 'RecordSubmission') {
        await this.remember(job, command.data, step.lookups.sharedId);
      }
      await this.append(job, command);
    }
    if (step.wakeAt !== undefined) await this.state.schedule(job.s.messageId, step.wakeAt);
    return step.again ? 'again' : 'done';
  }

  private append(job: Job, command: MessageCommand): Promise<unknown> {
    return decideAndAppend(
      this.deps.eventStore,
      job.s.messageId,
      command,
      metadataOf(job.loaded),
      job.loaded,
    );
  }

  /** The receipts' and replies' look-ups: written before sms.submitted, a receipt may come first. */
  private remember(
    job: Job,
    submission: { supplierAccount: string; supplierMessageId: string },
    sharedId: boolean,
  ): Promise<void> {
    const a = job.s.accepted;
    return this.state.rememberSubmission(
      submission.supplierAccount,
      submission.supplierMessageId,
      a.messageId,
      a.mobile,
      a.tenantId,
      a.extendCode,
      0,
      sharedId,
    );
  }

  private async check(job: Job): Promise<Outcome> {
    const check = await checkAtSendTime(this.deps, this.options, job.s);
    return check.ok
      ? { kind: 'checked', ok: true }
      : { kind: 'checked', ok: false, reason: check.reason };
  }

  private markOpen(account: string): void {
    this.seenOpen.set(account, Date.now() + Math.min(1_000, this.options.breakerCooldownMs));
  }

  /**
   * The account's turn in its shared throughput (reserved in batches and slept
   * until, never polled), then in one round trip: skip an open breaker, claim
   * this attempt so nobody else sends it; then the call. Undefined when stopping.
   */
  private async sendThrough(job: Job, account: string): Promise<Outcome | undefined> {
    const supplier = this.registry.get(account);
    if (!supplier) return { kind: 'unknownAccount', account };
    // an account seen open a moment ago fails over without waiting for its turn
    if ((this.seenOpen.get(account) ?? 0) > Date.now()) return { kind: 'breakerOpen', account };
    const waitStart = performance.now();
    const turn = await this.throttle.acquire(account, supplier.config.maxPerSecond);
    throttleWaits.observe({ account }, (performance.now() - waitStart) / 1000);
    if (!turn || this.stopping) return undefined;
    const claim = { owner: this.owner, account, at: Date.now() };
    const admission = await this.state.admit(account, job.s.messageId, job.s.attempts, claim);
    if (admission.kind === 'open') {
      this.markOpen(account);
      return { kind: 'breakerOpen', account };
    }
    if (admission.kind === 'claimed') {
      const held = admission.claim;
      return {
        kind: 'claimedElsewhere',
        account: this.registry.get(held.account) ? held.account : account,
        deadline: held.at + supplier.config.timeoutMs + CLAIM_GRACE_MS,
      };
    }
    return {
      kind: 'sent',
      account,
      outcome: await this.send(job.s, supplier, admission.probe === true),
    };
  }

  /** The sealed params and content of a message, opened in memory right before the call. */
  private opened(
    a: ExistingMessage['accepted'],
  ): { params?: Record<string, string>; content?: string } | undefined {
    if (a.sealedParams === undefined && a.sealedContent === undefined) return {};
    try {
      const key = this.deps.config.codes.encryptionKey;
      return {
        ...(a.sealedParams !== undefined
          ? { params: JSON.parse(open(key, a.sealedParams, a.messageId)) as Record<string, string> }
          : {}),
        ...(a.sealedContent !== undefined
          ? { content: open(key, a.sealedContent, a.messageId) }
          : {}),
      };
    } catch {
      return undefined;
    }
  }

  private async send(
    s: ExistingMessage,
    supplier: RegisteredSupplier,
    probe = false,
  ): Promise<SendOutcome> {
    const a = s.accepted;
    const opened = this.opened(a);
    if (opened === undefined) {
      return {
        kind: 'rejected',
        code: 'LOCAL.SEALED_CONTENT_INVALID',
        message: 'the sealed code cannot be opened with the configured key',
        latencyMs: 0,
      };
    }
    const req = {
      messageId: a.messageId,
      mobile: a.mobile,
      signature: a.signature ?? supplier.config.signName,
      ...vendorTemplateOf(a, supplier.config.id),
      params: sendParams(a.params, opened.params),
      content: opened.content ?? a.content ?? '',
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
    const healthy = outcome.kind === 'accepted' || outcome.kind === 'rejected';
    const opening = await this.state
      .recordCall(supplier.config.id, healthy, probe)
      .catch(() => false);
    if (opening) this.markOpen(supplier.config.id);
    return outcome;
  }

  /** Ask the vendor what became of an uncertain submission. */
  private async reconcile(job: Job): Promise<Round> {
    const { s, loaded } = job;
    const account = s.supplierAccount ?? s.currentAccount;
    const supplier = account === undefined ? undefined : this.registry.get(account);
    const uncertainAt =
      lastOf(loaded.events, 'sms.submission-uncertain.v1')?.recordedAt ?? new Date();
    if (!supplier) {
      await this.append(job, {
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
    if (q.kind === 'found') return this.found(job, supplier.config.id, q);
    if (q.kind === 'not_found' && q.conclusive && elapsed >= this.options.reconcileWindowMs) {
      // The vendor still has no record a reconcile window after the call (its
      // query lags behind its sends): sending is safe, once.
      const resent = await this.resendOnce(job, supplier);
      if (resent) return resent;
    }
    return this.reconcileLater(job, elapsed);
  }

  /** The vendor has it: record the submission, and its final status when the query knows it. */
  private async found(
    job: Job,
    account: string,
    q: Extract<QueryOutcome, { kind: 'found' }>,
  ): Promise<Round> {
    // Aliyun's query carries no BizId; its receipts match by out_id instead.
    const supplierMessageId = q.supplierMessageId ?? `outid:${job.s.messageId}`;
    const submission = { supplierAccount: account, supplierMessageId };
    await this.remember(job, submission, false);
    await this.append(job, {
      type: 'RecordSubmission',
      data: { ...submission, reconciled: true },
    });
    if (q.status === 'pending') return 'done';
    await decideAndAppend(
      this.deps.eventStore,
      job.s.messageId,
      q.status === 'delivered'
        ? { type: 'RecordDelivery', data: { ...submission, deliveredAt: new Date().toISOString() } }
        : {
            type: 'RecordUndelivered',
            data: {
              ...submission,
              reason: { code: q.errorCode ?? 'UNDELIVERED', message: 'reported by query' },
            },
          },
      metadataOf(job.loaded),
    );
    return 'done';
  }

  /**
   * The one re-send of a submission the vendor never saw; undefined when it
   * stays unresolved. Its answer is decided as a first call's would be: a
   * rejection that is about the account (e.g. its balance) fails over to
   * the next supplier, only one about the recipient fails the message.
   */
  private async resendOnce(job: Job, supplier: RegisteredSupplier): Promise<Round | undefined> {
    const { s } = job;
    const account = supplier.config.id;
    const held = await this.state.claim(s.messageId, -s.attempts, {
      owner: this.owner,
      account,
      at: Date.now(),
    });
    if (held) return undefined;
    const outcome = await this.send(s, supplier);
    if (outcome.kind === 'accepted') {
      const submission = { supplierAccount: account, supplierMessageId: outcome.supplierMessageId };
      await this.remember(job, submission, false);
      await this.append(job, {
        type: 'RecordSubmission',
        data: { ...submission, latencyMs: outcome.latencyMs },
      });
      return 'done';
    }
    if (outcome.kind === 'rejected') {
      const step = nextStep(s, { kind: 'sent', account, outcome }, this.policy());
      // the vendor refused it, so it never sent it: a failover is not blind
      const command =
        step.command?.type === 'RecordFailover'
          ? { ...step.command, data: { ...step.command.data, refusedResend: true } }
          : step.command;
      return this.apply(job, { ...step, command });
    }
    return undefined; // transient or unknown again: keep reconciling (the re-send claim stays taken)
  }

  /**
   * Not resolved yet: expire it past the receipt window, else ask again at
   * least once a minute for the first ten minutes (or the window), then thinning out.
   * Tencent's pull lists only reported sends: absence is never proof, so it
   * is pulled until the expiry like any submitted message.
   */
  private async reconcileLater(job: Job, elapsed: number): Promise<Round> {
    const o = this.options;
    if (elapsed >= o.receiptExpireAfterMs) {
      await this.append(job, {
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
    const cap = elapsed < Math.max(o.reconcileWindowMs, 600_000) ? 60_000 : 6 * 3_600_000;
    const delay = Math.min(
      cap,
      Math.max(o.reconcileDelayMs, elapsed / 2),
      Math.max(1, o.receiptExpireAfterMs - elapsed),
    );
    await this.state.schedule(job.s.messageId, Date.now() + delay);
    return 'done';
  }
}

function metadataOf(loaded: LoadedMessage): Partial<EventMetadata> {
  const first = loaded.events[0];
  const last = loaded.events[loaded.events.length - 1];
  return {
    correlationId: first?.metadata.correlationId ?? first?.eventId,
    causationId: last?.eventId ?? null,
    actor: { type: 'system', id: 'dispatcher' },
  };
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

/**
 * A message id handled until it is done with for now: a failure (a dependency
 * down) is retried with backoff while the dispatcher runs. Counts what is in
 * work and what finished, for readiness.
 */
function retryingHandler(
  deps: ProcessorDeps,
  dispatcher: MessageDispatcher,
  part: ReturnType<NonNullable<ProcessorDeps['pipeline']>['register']> | undefined,
  counts: { inWork: number; finished: number },
): (messageId: string) => Promise<void> {
  const log = deps.logger.child({ component: 'dispatcher' });
  // one line when dispatching starts failing (e.g. the event store is down), one when it works again
  const failing = outage(log, 'dispatcher', 'a dependency of its messages');
  return async (messageId: string): Promise<void> => {
    counts.inWork++;
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
      counts.inWork--;
      counts.finished++;
    }
  };
}

/** One partition's batch: every message id in it handled (bounded by the limiter), then the offset moves. */
function batchHandler(
  dispatcher: MessageDispatcher,
  limiter: Limiter,
  handleOne: (messageId: string) => Promise<void>,
) {
  return async ({ batch, resolveOffset, heartbeat, isRunning, isStale }: EachBatchPayload) => {
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
  };
}

export async function startDispatcher(deps: ProcessorDeps): Promise<Running> {
  const options = optionsOf(deps);
  await ensureTopics(deps.kafka, [
    { topic: options.dispatchTopic, numPartitions: options.dispatchPartitions },
  ]);
  const dispatcher = new MessageDispatcher(deps);
  // readiness: messages in work, and a counter that moves as they finish
  const counts = { inWork: 0, finished: 0 };
  const part = deps.pipeline?.register('dispatcher', 'processor', {
    pending: () => counts.inWork,
    completed: () => counts.finished,
  });
  const handleOne = retryingHandler(deps, dispatcher, part, counts);
  part?.setActive(true);
  const limiter = new Limiter(options.concurrency);
  const consumer = await runSupervisedConsumer({
    name: 'dispatcher',
    logger: deps.logger,
    // A partition's next batch is fetched once this one is done: while its
    // messages wait for their accounts' turns the partition is paused, and a
    // batch is a few hundred records, not thousands.
    create: () =>
      createConsumer(deps.kafka, { groupId: options.groupId, maxBytesPerPartition: 64 * 1024 }),
    subscribe: { topics: [options.dispatchTopic], fromBeginning: true },
    run: {
      autoCommit: true,
      autoCommitInterval: 1_000,
      eachBatchAutoResolve: false,
      // every partition's batch side by side; the limiter bounds the messages in work
      partitionsConsumedConcurrently: Math.max(1, options.dispatchPartitions),
      eachBatch: batchHandler(dispatcher, limiter, handleOne),
    },
    onCrash: (err) => part?.failed(err),
    onJoin: () => part?.ok(),
  });
  deps.logger
    .child({ component: 'dispatcher' })
    .info('dispatcher running', { topic: options.dispatchTopic, groupId: options.groupId });

  return {
    async close() {
      dispatcher.stop();
      await consumer.stop();
      part?.close();
    },
  };
}
