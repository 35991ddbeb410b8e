// Reviews: submits signatures and templates to each supplier account and
// polls the vendor until each review is final.
//   1. A checkpointed subscription over signature and template events: for
//      every account that has not seen the current text, submit it (or, for a
//      binding, nothing to submit) and append what the vendor answered; every
//      review still pending gets a due time in a Redis sorted set.
//   2. A loop beside it asks the vendor about due reviews, appends the final
//      answer (for a binding: approved only when the vendor's text and
//      placeholders are ours) and otherwise asks again later, less and less often.
// The events are the truth: a due time for a review that is no longer
// pending is dropped when it comes up.
import type { Redis } from 'ioredis';
import {
  type Decider,
  type Event,
  matchVendorTemplate,
  signatureDecider,
  templateDecider,
  toVendorTemplate,
  type ExistingSignature,
  type ExistingTemplate,
  type SignatureCommand,
  type SignatureState,
  type TemplateCommand,
  type TemplateState,
} from '../domain/index.ts';
import { handleCommand, type Decision } from '../platform/commandHandling/index.ts';
import {
  aggregateStream,
  type EventMetadata,
  type RecordedEvent,
} from '../platform/eventStore/index.ts';
import { optionsOf, type ProcessorDeps, type Running } from './deps.ts';
import { napper, sleepUntil } from './napper.ts';
import { SupplierRegistry } from './registry.ts';
import { runCheckpointed } from './singleton.ts';
import { outage } from '../platform/health/index.ts';
import type { ReviewApi, ReviewOutcome } from '../suppliers/index.ts';
import { reviewsDueKey } from '../contracts/index.ts';

export const REVIEWS_CHECKPOINT = 'reviews.submit';

const TYPES = [
  'signature.registered.v1',
  'signature.accounts-added.v1',
  'signature.submitted.v1',
  'template.created.v1',
  'template.updated.v1',
  'template.review-submitted.v1',
  'template.binding-requested.v1',
] as const;

const META: Partial<EventMetadata> = { actor: { type: 'system', id: 'reviews' } };

type Vendor = 'aliyun' | 'tencent';

/** A due review: which stream, which account, since when it has been polled. */
interface Due {
  kind: 'sig' | 'tpl';
  stream: string;
  account: string;
  since: number;
}
const encode = (d: Due): string => JSON.stringify([d.kind, d.stream, d.account, d.since]);
function decode(member: string): Due | undefined {
  try {
    const [kind, stream, account, since] = JSON.parse(member) as [string, string, string, number];
    if ((kind === 'sig' || kind === 'tpl') && typeof stream === 'string') {
      return { kind, stream, account, since: Number(since) };
    }
  } catch {
    // not ours
  }
  return undefined;
}

export class Reviewer {
  private readonly deps: ProcessorDeps;
  private readonly registry: SupplierRegistry;
  private readonly redis: Redis;
  private readonly dueKey: string;
  private readonly pollMs: number;
  private readonly pollMaxMs: number;

  constructor(deps: ProcessorDeps) {
    this.deps = deps;
    const options = optionsOf(deps);
    this.registry = new SupplierRegistry(deps.config.suppliers);
    this.redis = deps.redis;
    this.dueKey = reviewsDueKey(options.redisPrefix);
    this.pollMs = options.reviewPollMs;
    this.pollMaxMs = options.reviewPollMaxMs;
  }

  private api(account: string): { api: ReviewApi; vendor: Vendor } | undefined {
    const s = this.registry.get(account);
    if (!s) return undefined;
    return { api: s.adapter, vendor: s.config.vendor };
  }

  /** Called after a review is scheduled (the poll loop sleeps until the earliest one). */
  onScheduled: () => void = () => undefined;

  private async schedule(due: Due, now = Date.now()): Promise<void> {
    // ask often at first, then less and less: a quarter of the time waited so far
    const delay = Math.min(this.pollMaxMs, Math.max(this.pollMs, (now - due.since) / 4));
    await this.redis.zadd(this.dueKey, now + delay, encode(due));
    this.onScheduled();
  }

  /** When the earliest scheduled review is due (ms epoch), undefined when none is. */
  async nextDue(): Promise<number | undefined> {
    const first = await this.redis.zrange(this.dueKey, '0', '0', 'WITHSCORES');
    return first.length >= 2 ? Number(first[1]) : undefined;
  }

  /** Step 1 for one stream: submit what is not submitted, schedule what is pending. */
  async submit(stream: string): Promise<void> {
    if (stream.startsWith('signature-')) await this.submitSignature(stream);
    else if (stream.startsWith('template-')) await this.submitTemplate(stream);
  }

  private async loadSignature(stream: string): Promise<SignatureState> {
    return (await aggregateStream(this.deps.eventStore, signatureDecider, stream)).state;
  }

  private async loadTemplate(stream: string): Promise<TemplateState> {
    return (await aggregateStream(this.deps.eventStore, templateDecider, stream)).state;
  }

  private recordSignature(stream: string, command: SignatureCommand): Promise<void> {
    return this.decide(signatureDecider, stream, command);
  }

  private recordTemplate(
    stream: string,
    command: (s: ExistingTemplate) => TemplateCommand | undefined,
  ): Promise<void> {
    return this.decide(templateDecider, stream, (s: TemplateState) =>
      s.exists ? command(s) : undefined,
    );
  }

  private async decide<C, S, E extends Event>(
    decider: Decider<C, S, E>,
    stream: string,
    decision: Decision<C, S>,
  ): Promise<void> {
    await handleCommand(this.deps.eventStore, decider, stream, decision, META);
  }

  private async submitSignature(stream: string): Promise<void> {
    const state = await this.loadSignature(stream);
    if (!state.exists) return;
    for (const account of state.accounts) {
      const review = state.reviews[account];
      if (!review || review.status !== 'pending') continue;
      if (review.submitted) {
        await this.schedule({ kind: 'sig', stream, account, since: Date.now() });
        continue;
      }
      const api = this.api(account);
      if (!api) continue;
      const outcome = await api.api.submitSignature(state.name);
      if (outcome.kind === 'submitted') {
        await this.recordSignature(stream, {
          type: 'RecordSignatureSubmission',
          data: { account, ...(outcome.id ? { vendorSignId: outcome.id } : {}) },
        });
        await this.schedule({ kind: 'sig', stream, account, since: Date.now() });
      } else if (outcome.kind === 'refused') {
        await this.recordSignature(stream, {
          type: 'RecordSignatureReview',
          data: { account, status: 'rejected', reason: outcome.reason },
        });
      } else {
        throw new Error(`signature submission to ${account} failed: ${outcome.reason}`);
      }
    }
  }

  private async submitTemplate(stream: string): Promise<void> {
    const state = await this.loadTemplate(stream);
    if (!state.exists) return;
    for (const account of state.suppliers) {
      const binding = state.bindings[account];
      if (binding) {
        if (binding.status === 'pending') {
          await this.schedule({ kind: 'tpl', stream, account, since: Date.now() });
        }
        continue;
      }
      const api = this.api(account);
      if (!api) continue;
      const vendorText = toVendorTemplate(api.vendor, state.content);
      const outcome = await api.api.submitTemplate({
        name: state.name,
        kind: state.kind,
        content: vendorText.content,
        signature: state.signature,
        remark: `streaming template ${state.templateCode}`,
      });
      const revision = state.revision;
      if (outcome.kind === 'submitted' && outcome.id) {
        const vendorTemplateId = outcome.id;
        await this.recordTemplate(stream, () => ({
          type: 'RecordTemplateSubmission',
          data: { account, vendorTemplateId, revision, params: vendorText.params },
        }));
        await this.schedule({ kind: 'tpl', stream, account, since: Date.now() });
      } else if (outcome.kind === 'refused') {
        await this.recordTemplate(stream, () => ({
          type: 'RecordTemplateReview',
          data: { account, revision, status: 'rejected', reason: outcome.reason },
        }));
      } else {
        const reason = outcome.kind === 'failed' ? outcome.reason : 'no template id';
        throw new Error(`template submission to ${account} failed: ${reason}`);
      }
    }
  }

  /** Step 2 for one due review; true when it is final (or gone). */
  async poll(due: Due): Promise<boolean> {
    const api = this.api(due.account);
    if (!api) return true;
    if (due.kind === 'sig') {
      const state = await this.loadSignature(due.stream);
      const review = state.exists ? state.reviews[due.account] : undefined;
      if (!state.exists || !review || review.status !== 'pending' || !review.submitted) return true;
      const answer = await api.api.signatureReview(state.name, review.vendorSignId);
      return this.finishSignature(due, state, answer);
    }
    const state = await this.loadTemplate(due.stream);
    const binding = state.exists ? state.bindings[due.account] : undefined;
    if (!state.exists || !binding || binding.status !== 'pending' || !binding.vendorTemplateId) {
      return true;
    }
    const vendorTemplateId = binding.vendorTemplateId;
    const revision = state.revision;
    const answer = await api.api.templateReview(vendorTemplateId);
    if (answer.kind === 'pending' || answer.kind === 'failed') return false;
    let command: TemplateCommand;
    if (answer.kind === 'rejected') {
      command = {
        type: 'RecordTemplateReview',
        data: {
          account: due.account,
          vendorTemplateId,
          revision,
          status: 'rejected',
          reason: answer.reason,
        },
      };
    } else if (binding.source === 'bound') {
      // a template the tenant had approved: it must say what ours says
      const match =
        answer.content === undefined
          ? ({ ok: false, reason: 'the vendor did not return the template text' } as const)
          : matchVendorTemplate(api.vendor, state.content, answer.content);
      command = {
        type: 'RecordTemplateReview',
        data: match.ok
          ? {
              account: due.account,
              vendorTemplateId,
              revision,
              status: 'approved',
              params: match.params,
            }
          : {
              account: due.account,
              vendorTemplateId,
              revision,
              status: 'rejected',
              reason: match.reason,
            },
      };
    } else {
      command = {
        type: 'RecordTemplateReview',
        data: { account: due.account, vendorTemplateId, revision, status: 'approved' },
      };
    }
    await this.recordTemplate(due.stream, () => command);
    return true;
  }

  private async finishSignature(
    due: Due,
    state: ExistingSignature,
    answer: ReviewOutcome,
  ): Promise<boolean> {
    if (answer.kind === 'pending' || answer.kind === 'failed') return false;
    await this.recordSignature(due.stream, {
      type: 'RecordSignatureReview',
      data:
        answer.kind === 'approved'
          ? { account: due.account, status: 'approved' }
          : { account: due.account, status: 'rejected', reason: answer.reason },
    });
    void state;
    return true;
  }

  /** One round of step 2: every review that is due. */
  async pollDue(now = Date.now()): Promise<number> {
    const members = await this.redis.zrangebyscore(this.dueKey, 0, now, 'LIMIT', 0, 100);
    for (const member of members) {
      const due = decode(member);
      let final = true;
      if (due) {
        try {
          final = await this.poll(due);
        } catch (err) {
          this.deps.logger.warn('review poll failed; retrying', {
            account: due.account,
            err: String(err),
          });
          final = false;
        }
      }
      // the same member with a later score, or gone when final
      if (final) await this.redis.zrem(this.dueKey, member);
      else if (due) await this.schedule(due);
    }
    return members.length;
  }
}

export async function startReviews(deps: ProcessorDeps): Promise<Running> {
  const log = deps.logger.child({ component: 'reviews' });
  const reviewer = new Reviewer(deps);
  // one line when polling starts failing (Redis away), one when it works again
  const polling = outage(log, 'reviews', 'redis (its due reviews)');
  // Sleeps until the earliest scheduled review (at most IDLE_FALLBACK_MS), not
  // a fixed 500 ms: with no review pending, the loop looks twice a second less.
  // Reviews are scheduled only by this process (the lock's holder), which
  // wakes the loop when it does.
  const sleeper = napper();
  reviewer.onScheduled = () => sleeper.wake();
  const minMs = Math.min(optionsOf(deps).reviewPollMs, 500);
  const loop = async (isClosed: () => boolean, ended: Promise<void>) => {
    void ended.then(() => sleeper.wake());
    while (!isClosed()) {
      let napMs: number;
      try {
        const n = await reviewer.pollDue();
        if (n === 100) continue;
        napMs = sleepUntil(await reviewer.nextDue(), minMs);
        polling.ok();
      } catch (err) {
        polling.failed(err);
        napMs = 1_000;
      }
      await sleeper.nap(napMs);
    }
  };
  return runCheckpointed(deps, {
    name: 'reviews',
    checkpoint: REVIEWS_CHECKPOINT,
    types: TYPES,
    handle: async (events: RecordedEvent[]) => {
      // once per stream and batch; the stream's state says what is left to do
      const streams = [...new Set(events.map((e) => e.streamId))];
      for (const stream of streams) await reviewer.submit(stream);
    },
    background: loop,
  });
}
