// The whole system as `npm start` runs it (the real CLI, its supervised
// children), on a private stack of its own (own data folder and ports, via
// stack/index.ts), so that restarting a service here never touches the stack
// the other test files share. Sends go through the command API with
// Idempotency-Keys and are retried through 503s and dropped connections, as
// a careful client does, so every message is accepted exactly once.
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import mysql from 'mysql2/promise';
import type { RowDataPacket } from 'mysql2/promise';
import { stack, type ServiceName } from '../../stack/index.ts';
import { defaultSupplierAccounts, loadConfig } from '../../platform/config/index.ts';
import { openRuntime, type Runtime } from '../../cli/runtime.ts';

const repo = fileURLToPath(new URL('../..', import.meta.url));
const main = path.join(repo, 'cli/main.ts');

/** Ports no shared service or helper uses. */
const PORTS = {
  mysql: 3996,
  redis: 6996,
  kafka: 9996,
  kafkaController: 9997,
  mongo: 27996,
  command: 18380,
  query: 18381,
  simulator: 18390,
};

export const stackEnv: Record<string, string> = {
  STREAMING_STACK_DIR: path.join(repo, '.stack', 'faults'),
  STREAMING_STACK_MYSQL_PORT: String(PORTS.mysql),
  STREAMING_STACK_REDIS_PORT: String(PORTS.redis),
  STREAMING_STACK_KAFKA_PORT: String(PORTS.kafka),
  STREAMING_STACK_KAFKA_CONTROLLER_PORT: String(PORTS.kafkaController),
  STREAMING_STACK_MONGO_PORT: String(PORTS.mongo),
};

export const urls = {
  command: `http://127.0.0.1:${PORTS.command}`,
  query: `http://127.0.0.1:${PORTS.query}`,
  simulator: `http://127.0.0.1:${PORTS.simulator}`,
};

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export async function eventually<T>(
  what: string,
  probe: () => Promise<T | undefined>,
  ms = 60_000,
): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const value = await probe().catch(() => undefined);
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(250);
  }
}

interface Reply {
  status: number;
  json: Record<string, unknown>;
  retryAfter: string | null;
}

export async function call(
  url: string,
  method = 'GET',
  body?: unknown,
  headers: Record<string, string> = {},
): Promise<Reply> {
  const res = await fetch(url, {
    method,
    headers: { ...(body === undefined ? {} : { 'content-type': 'application/json' }), ...headers },
    body: body === undefined ? undefined : JSON.stringify(body),
    signal: AbortSignal.timeout(30_000),
  });
  const text = await res.text();
  let json: Record<string, unknown>;
  try {
    json = text ? (JSON.parse(text) as Record<string, unknown>) : {};
  } catch {
    json = { text };
  }
  return { status: res.status, json, retryAfter: res.headers.get('retry-after') };
}

export interface SendResult {
  ids: string[];
  /** Answers other than 202 seen on the way, by status (503 during outages). */
  statuses: Record<string, number>;
  /** Requests cut off (a killed process) and retried. */
  networkErrors: number;
}

export class System {
  readonly env: Record<string, string>;
  private child: ChildProcess | undefined;
  output = '';
  rt!: Runtime;
  token = '';
  templateCode = '';

  private constructor(env: Record<string, string>) {
    this.env = env;
  }

  /** Up: the private stack, a fresh database, `streaming start --no-stack`, a tenant and a template. */
  static async start(): Promise<System> {
    const code = await stack('up', {
      env: { ...process.env, ...stackEnv },
      print: () => undefined,
    });
    if (code !== 0) throw new Error('the private stack of the fault suite did not come up');
    const suffix = randomBytes(4).toString('hex');
    const database = `streaming_faults_${suffix}`;
    const admin = await mysql.createConnection({
      host: '127.0.0.1',
      port: PORTS.mysql,
      user: 'root',
    });
    await admin.query(`CREATE DATABASE ${database}`);
    await admin.query(`GRANT ALL ON ${database}.* TO 'streaming'@'%'`).catch(() => undefined);
    await admin.end();
    const env: Record<string, string> = {
      ...stackEnv,
      STREAMING_MYSQL_URL: `mysql://streaming:streaming@127.0.0.1:${PORTS.mysql}/${database}`,
      STREAMING_REDIS_URL: `redis://127.0.0.1:${PORTS.redis}/0`,
      STREAMING_MONGO_URL: `mongodb://127.0.0.1:${PORTS.mongo}/${database}`,
      STREAMING_KAFKA_BROKERS: `127.0.0.1:${PORTS.kafka}`,
      STREAMING_COMMAND_PORT: String(PORTS.command),
      STREAMING_QUERY_PORT: String(PORTS.query),
      STREAMING_SIMULATOR_PORT: String(PORTS.simulator),
      STREAMING_SUPPLIERS: JSON.stringify(
        defaultSupplierAccounts.map((a) => ({ ...a, endpoint: `${urls.simulator}/` })),
      ),
      STREAMING_LOG_LEVEL: 'warn',
    };
    const system = new System(env);
    system.rt = await openRuntime({
      service: 'fault-suite',
      config: loadConfig({ ...process.env, ...env, STREAMING_LOG_LEVEL: 'error' }),
    });
    await system.rt.redis.flushdb();
    await system.spawn();
    await system.waitReady();
    await system.vendorPushRetries();
    const username = `faults${suffix}`;
    const password = 'correct horse battery';
    const reg = await call(`${urls.command}/v1/users`, 'POST', { username, password });
    if (reg.status !== 201) throw new Error(`register: ${reg.status} ${JSON.stringify(reg.json)}`);
    const login = await call(`${urls.command}/v1/sessions`, 'POST', { username, password });
    system.token = String(login.json.token);
    const tpl = await call(
      `${urls.command}/v1/templates`,
      'POST',
      {
        name: 'notice',
        kind: 'notification',
        signature: 'Acme',
        content: 'Hi ${name}',
        policy: {},
      },
      system.auth(),
    );
    if (tpl.status !== 201) throw new Error(`template: ${tpl.status} ${JSON.stringify(tpl.json)}`);
    system.templateCode = String(tpl.json.templateCode);
    return system;
  }

  /**
   * The vendors retry a receipt push that fails for minutes (Aliyun: after 1,
   * 5 and 10 minutes); the simulator's default scales that down to under 2 s,
   * shorter than an outage here. Retries after 1, 5, 10, 30 and 60 s, as a
   * vendor does in the small, so a receipt pushed during an outage arrives.
   */
  private async vendorPushRetries(): Promise<void> {
    const list = await call(`${urls.simulator}/admin/accounts`);
    for (const account of list.json.accounts as Record<string, unknown>[]) {
      // a PUT changes the fields it names and keeps the others
      const r = await call(`${urls.simulator}/admin/accounts/${String(account.id)}`, 'PUT', {
        behaviour: { pushRetries: 8, pushRetryBaseMs: 1_000 },
      });
      if (r.status !== 200)
        throw new Error(`simulator account: ${r.status} ${JSON.stringify(r.json)}`);
    }
  }

  auth(): Record<string, string> {
    return { authorization: `Bearer ${this.token}` };
  }

  private async spawn(): Promise<void> {
    const child = spawn(process.execPath, [main, 'start', '--no-stack'], {
      env: { ...process.env, ...this.env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    this.child = child;
    child.stdout!.on('data', (c: Buffer) => (this.output += c.toString()));
    child.stderr!.on('data', (c: Buffer) => (this.output += c.toString()));
  }

  async waitReady(ms = 90_000): Promise<void> {
    await eventually(
      'both services ready',
      async () => {
        const [a, b] = await Promise.all([
          fetch(`${urls.command}/readyz`),
          fetch(`${urls.query}/readyz`),
        ]);
        return a.ok && b.ok ? true : undefined;
      },
      ms,
    );
  }

  /** The pid of a supervised child, from the supervisor's latest "started <name> (pid N)" line. */
  childPid(name: string): number {
    const matches = [...this.output.matchAll(new RegExp(`started ${name} \\(pid (\\d+)\\)`, 'g'))];
    const last = matches[matches.length - 1];
    if (!last) throw new Error(`no pid for ${name} in the output`);
    return Number(last[1]);
  }

  /**
   * Sends `count` messages, `concurrency` at a time, spread over about
   * `spreadMs` (so that they keep arriving while a fault runs), each retried
   * until accepted.
   */
  async send(count: number, label: string, spreadMs = 8_000, concurrency = 4): Promise<SendResult> {
    const result: SendResult = { ids: [], statuses: {}, networkErrors: 0 };
    const pauseMs = (spreadMs * concurrency) / count;
    let next = 0;
    const worker = async () => {
      while (next < count) {
        const i = next++;
        await sleep(pauseMs);
        const key = `${label}-${i}`;
        const mobile = `139${String(i).padStart(8, '0')}`;
        for (;;) {
          let reply: Reply;
          try {
            reply = await call(
              `${urls.command}/v1/messages`,
              'POST',
              { templateCode: this.templateCode, mobile, params: { name: 'x' } },
              { ...this.auth(), 'idempotency-key': key },
            );
          } catch {
            result.networkErrors++;
            await sleep(500);
            continue;
          }
          if (reply.status === 202) {
            result.ids.push(String(reply.json.messageId));
            break;
          }
          result.statuses[reply.status] = (result.statuses[reply.status] ?? 0) + 1;
          if (reply.status !== 503) {
            throw new Error(`send ${key}: ${reply.status} ${JSON.stringify(reply.json)}`);
          }
          if (reply.retryAfter === null) throw new Error(`send ${key}: 503 without Retry-After`);
          await sleep(Math.min(2_000, Number(reply.retryAfter) * 1000));
        }
      }
    };
    await Promise.all(Array.from({ length: concurrency }, worker));
    return result;
  }

  /** Statuses of the messages in the history read model. */
  async statuses(ids: readonly string[]): Promise<Map<string, string>> {
    const out = new Map<string, string>();
    for (let i = 0; i < ids.length; i += 500) {
      const [rows] = await this.rt.mysql.query<RowDataPacket[]>(
        'SELECT message_id, status FROM message_history WHERE message_id IN (?)',
        [ids.slice(i, i + 500)],
      );
      for (const r of rows) out.set(String(r.message_id), String(r.status));
    }
    return out;
  }

  async waitFinal(ids: readonly string[], ms = 180_000): Promise<Map<string, string>> {
    const final = new Set(['delivered', 'undelivered', 'failed']);
    let last = new Map<string, string>();
    try {
      await eventually(
        'every message final',
        async () => {
          last = await this.statuses(ids);
          return ids.every((id) => final.has(last.get(id) ?? '')) ? true : undefined;
        },
        ms,
      );
    } catch (err) {
      const counts: Record<string, number> = {};
      for (const id of ids) {
        const s = last.get(id) ?? 'absent';
        counts[s] = (counts[s] ?? 0) + 1;
      }
      throw new Error(`${(err as Error).message}: ${JSON.stringify(counts)}`, { cause: err });
    }
    return last;
  }

  /** How many times the simulator received each message. */
  async received(): Promise<Record<string, number>> {
    const r = await call(`${urls.simulator}/admin/received`);
    return r.json.byMessageId as Record<string, number>;
  }

  async restartService(name: ServiceName, downForMs: number): Promise<void> {
    const env = { ...process.env, ...stackEnv };
    await stack('down', { env, services: [name], print: () => undefined });
    await sleep(downForMs);
    const code = await stack('up', { env, services: [name], print: () => undefined });
    if (code !== 0) throw new Error(`stack up ${name} failed`);
  }

  async stop(): Promise<void> {
    const child = this.child;
    if (child && child.exitCode === null && child.signalCode === null) {
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
      await once(child, 'exit');
      clearTimeout(timer);
    }
    await this.rt?.close();
    await writeFile(path.join(stackEnv.STREAMING_STACK_DIR!, 'last-run.log'), this.output).catch(
      () => undefined,
    );
    // the private stack goes down with the suite: nothing of it stays running
    await stack('down', { env: { ...process.env, ...stackEnv }, print: () => undefined });
  }
}

/**
 * Polls /readyz of both services and /healthz/pipeline while a fault runs,
 * and remembers what each said.
 */
export class ReadinessWatch {
  seen = { command: new Set<string>(), query: new Set<string>(), pipeline: new Set<string>() };
  /** Parts that reported an error (a dependency they lack) at some point. */
  erroredParts = new Set<string>();
  private running = true;
  private loop: Promise<void>;

  constructor() {
    this.loop = (async () => {
      while (this.running) {
        await Promise.all([
          this.probe('command', `${urls.command}/readyz`),
          this.probe('query', `${urls.query}/readyz`),
          this.pipeline(),
        ]);
        await sleep(300);
      }
    })();
  }

  private async probe(which: 'command' | 'query', url: string) {
    try {
      const r = await fetch(url, { signal: AbortSignal.timeout(5_000) });
      this.seen[which].add(r.ok ? 'ready' : 'not-ready');
    } catch {
      this.seen[which].add('not-ready'); // not answering is not ready
    }
  }

  private async pipeline() {
    try {
      const r = await call(`${urls.command}/healthz/pipeline`);
      this.seen.pipeline.add(r.status === 200 ? 'ok' : 'stalled');
      for (const p of (r.json.parts ?? []) as { name: string; error?: string }[]) {
        if (p.error) this.erroredParts.add(p.name);
      }
    } catch {
      this.seen.pipeline.add('unreachable');
    }
  }

  async stop(): Promise<void> {
    this.running = false;
    await this.loop;
  }
}

/** Both services ready and every part of the pipeline reporting without a stall or an error. */
export async function waitHealthy(ms = 90_000): Promise<void> {
  await eventually(
    'the system healthy again',
    async () => {
      const [a, b, p] = await Promise.all([
        fetch(`${urls.command}/readyz`),
        fetch(`${urls.query}/readyz`),
        call(`${urls.command}/healthz/pipeline`),
      ]);
      const parts = (p.json.parts ?? []) as { state: string; error?: string }[];
      const clean = parts.length > 0 && parts.every((x) => x.state !== 'stalled' && !x.error);
      return a.ok && b.ok && p.status === 200 && clean ? true : undefined;
    },
    ms,
  );
}
