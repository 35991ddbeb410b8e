// The dispatch path of testing/dispatchHarness.ts (event store, Redis, Kafka,
// the supplier simulator) with the command functions on top of it: templates
// created and approved as the reviewer records it, sends through sendMessage
// and sendBatch as the APIs call them, and the processors started (and
// restarted) in this process.
import { randomBytes, randomUUID } from 'node:crypto';
import type { CommandDeps } from '../../command-service/index.ts';
import { handle } from '../../command-service/commandHandling/index.ts';
import {
  templateDecider,
  templateStream,
  type MessageState,
  type TemplateKind,
} from '../../domain/index.ts';
import type { Principal } from '../../platform/auth/index.ts';
import { noTracker } from '../../platform/tracking/index.ts';
import {
  startDispatcher,
  startReceipts,
  startRelay,
  startTimers,
  type Running,
} from '../../processors/index.ts';
import { approveTemplate, seedSimulator } from '../../testing/approvals.ts';
import { startHarness, type Harness, type SimAccountDef } from '../../testing/dispatchHarness.ts';

export interface SendsHarness {
  h: Harness;
  cmd: CommandDeps;
  tenant: Principal;
  /** A template of the tenant, approved on every account (here and at the simulator). */
  template(
    kind?: TemplateKind,
    policy?: Record<string, unknown>,
    suppliers?: string[],
    extra?: { quietHours?: { start: string; end: string; timeZone?: string }; content?: string },
  ): Promise<string>;
  startProcessors(): Promise<void>;
  stopProcessors(): Promise<void>;
  /** Resolves once every id is in one of the statuses. */
  waitFor(ids: readonly string[], statuses: readonly string[], timeoutMs: number): Promise<void>;
  status(id: string): string | undefined;
  close(): Promise<void>;
}

export async function startSends(
  name: string,
  accounts: SimAccountDef[],
  options: Parameters<typeof startHarness>[2] = {},
): Promise<SendsHarness> {
  const prefix = `tc:${randomBytes(4).toString('hex')}:`;
  const h = await startHarness(name, accounts, { rateLimitPrefix: `${prefix}rl:`, ...options });
  const cmd: CommandDeps = {
    config: h.config,
    logger: h.logger,
    eventStore: h.eventStore,
    redis: h.redis,
    tracker: noTracker,
    redisPrefix: prefix,
  };
  const tenantId = randomUUID();
  const tenant: Principal = { userId: tenantId, role: 'member', kind: 'user' };
  const vendors = new Map(accounts.map((a) => [a.id, a.vendor]));
  let running: Running[] = [];
  const status = (id: string) => {
    const s: MessageState | undefined = h.states.get(id);
    return s?.exists ? s.status : undefined;
  };
  return {
    h,
    cmd,
    tenant,
    async template(
      kind = 'notification',
      policy = {},
      suppliers = accounts.map((a) => a.id),
      extra = {},
    ) {
      const templateCode = `T${randomBytes(5).toString('hex').toUpperCase()}`;
      await handle(
        h.eventStore,
        templateDecider,
        templateStream(templateCode),
        {
          type: 'CreateTemplate',
          data: {
            templateId: randomUUID(),
            templateCode,
            tenantId,
            name: `sends ${templateCode}`,
            kind,
            signature: 'Acme',
            content: extra.content ?? 'order ${order} shipped',
            suppliers,
            policy,
            ...(extra.quietHours ? { quietHours: extra.quietHours } : {}),
          },
        },
        {},
      );
      const approved = await approveTemplate(h.eventStore, templateCode, vendors);
      await seedSimulator(h.sim.url, approved, vendors);
      return templateCode;
    },
    async startProcessors() {
      running = [
        await startRelay(h.deps),
        await startTimers(h.deps),
        await startReceipts(h.deps),
        await startDispatcher(h.deps),
      ];
    },
    async stopProcessors() {
      for (const r of running.reverse()) await r.close();
      running = [];
    },
    status,
    waitFor(ids, statuses, timeoutMs) {
      const deadline = Date.now() + timeoutMs;
      return new Promise<void>((resolve, reject) => {
        const tick = () => {
          const open = ids.filter((id) => !statuses.includes(status(id) ?? 'none'));
          if (open.length === 0) return resolve();
          if (Date.now() > deadline) {
            const sample = open.slice(0, 5).map((id) => `${id}:${status(id) ?? 'none'}`);
            return reject(new Error(`${open.length} of ${ids.length} not ${statuses}: ${sample}`));
          }
          setTimeout(tick, 50);
        };
        tick();
      });
    },
    async close() {
      for (const r of running.reverse()) await r.close().catch(() => undefined);
      let cursor = '0';
      do {
        const [next, keys] = await h.redis.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 500);
        cursor = next;
        if (keys.length) await h.redis.del(...keys);
      } while (cursor !== '0');
      await h.close();
    },
  };
}
