// An in-process command service on a database of its own and a Redis key prefix of its own.
import { randomBytes } from 'node:crypto';
import { PassThrough } from 'node:stream';
import { Redis } from 'ioredis';
import { startCommandService, type CommandDeps } from '../../command-service/index.ts';
import { webhookRouter } from '../../command-service/webhooks/index.ts';
import { loadConfig, type Config } from '../../platform/config/index.ts';
import { MysqlEventStore } from '../../platform/eventStore/index.ts';
import { createLogger } from '../../platform/logger/index.ts';
import { noTracker, type Tracker, type TrackInput } from '../../platform/tracking/index.ts';
import { approveTemplate } from '../../testing/approvals.ts';
import { freshDatabase, type TestDatabase } from '../../testing/mysql.ts';

export interface Reply {
  status: number;
  headers: Headers;
  json: Record<string, unknown>;
  text: string;
}

export interface Harness {
  url: string;
  config: Config;
  deps: CommandDeps;
  db: TestDatabase;
  redis: Redis;
  prefix: string;
  tracked: TrackInput[];
  logs: string[];
  call(
    method: string,
    path: string,
    options?: { body?: unknown; raw?: string; token?: string; headers?: Record<string, string> },
  ): Promise<Reply>;
  countEvents(): Promise<number>;
  close(): Promise<void>;
}

export async function startHarness(
  name: string,
  env: Record<string, string> = {},
  options: { webhooks?: boolean } = {},
): Promise<Harness> {
  const config = loadConfig({
    STREAMING_ENV: 'test',
    STREAMING_LOG_LEVEL: 'info',
    // Test suites create many users: a cheap scrypt (production refuses it) and no
    // registration throttle from the one loopback address.
    STREAMING_PASSWORD_SCRYPT_LOG_N: '12',
    STREAMING_REGISTER_MAX_PER_IP: '1000000',
    ...env,
  });
  const db = await freshDatabase(name);
  const eventStore = await MysqlEventStore.create(db.pool);
  const redis = new Redis(config.redis.url, { maxRetriesPerRequest: 3 });
  const prefix = `t:${randomBytes(6).toString('hex')}:`;
  const logs: string[] = [];
  const stream = new PassThrough();
  stream.on('data', (c: Buffer) => logs.push(c.toString('utf8')));
  const logger = createLogger({ logLevel: 'info' }, { name: 'command-test', stream });
  const tracked: TrackInput[] = [];
  const tracker: Tracker = { ...noTracker, track: (e) => void tracked.push(e) };
  const deps: CommandDeps = { config, logger, eventStore, redis, tracker, redisPrefix: prefix };
  const service = await startCommandService(deps, {
    port: 0,
    // the supplier webhooks, mounted as `streaming serve command` does
    ...(options.webhooks
      ? { routers: [{ path: '/v1/webhooks', router: webhookRouter(deps) }] }
      : {}),
  });

  async function call(
    method: string,
    path: string,
    options: {
      body?: unknown;
      raw?: string;
      token?: string;
      headers?: Record<string, string>;
    } = {},
  ): Promise<Reply> {
    const headers: Record<string, string> = { ...options.headers };
    let body: string | undefined;
    if (options.raw !== undefined) body = options.raw;
    else if (options.body !== undefined) body = JSON.stringify(options.body);
    if (body !== undefined && !headers['content-type'])
      headers['content-type'] = 'application/json';
    if (options.token) headers.authorization = `Bearer ${options.token}`;
    const res = await fetch(new URL(path, service.url), { method, headers, body });
    const text = await res.text();
    let json: Record<string, unknown> = {};
    try {
      json = JSON.parse(text) as Record<string, unknown>;
    } catch {
      // not JSON
    }
    return { status: res.status, headers: res.headers, json, text };
  }

  return {
    url: service.url,
    config,
    deps,
    db,
    redis,
    prefix,
    tracked,
    logs,
    call,
    async countEvents() {
      const [rows] = await db.pool.query('SELECT COUNT(*) AS n FROM es_events');
      return Number((rows as { n: number }[])[0]!.n);
    },
    async close() {
      await service.close();
      let cursor = '0';
      do {
        const [next, keys] = await redis.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 500);
        cursor = next;
        if (keys.length) await redis.del(...keys);
      } while (cursor !== '0');
      redis.disconnect();
      await eventStore.close();
      await db.drop();
    },
  };
}

let counter = 0;
/** A fresh member: registers, logs in, returns the token and user id. */
export async function member(
  h: Harness,
  name = 'user',
): Promise<{ token: string; userId: string }> {
  counter += 1;
  const username = `${name}${counter}-${randomBytes(3).toString('hex')}`;
  const reg = await h.call('POST', '/v1/users', {
    body: { username, password: 'correct horse battery' },
  });
  if (reg.status !== 201) throw new Error(`register: ${reg.status} ${reg.text}`);
  const login = await h.call('POST', '/v1/sessions', {
    body: { username, password: 'correct horse battery' },
  });
  if (login.status !== 200) throw new Error(`login: ${login.status} ${login.text}`);
  return { token: String(login.json.token), userId: String(reg.json.userId) };
}

/**
 * A fresh template of the caller's, approved with its signature at every
 * account (as the reviewer records it; `approved: false` leaves it in review).
 */
export async function template(
  h: Harness,
  token: string,
  body: Record<string, unknown> = {},
  options: { approved?: boolean } = {},
): Promise<string> {
  const r = await h.call('POST', '/v1/templates', {
    token,
    body: {
      name: 'notice',
      kind: 'notification',
      signature: 'Acme',
      content: 'Hello ${name}, your order ${order} has shipped.',
      ...body,
    },
  });
  if (r.status !== 201) throw new Error(`template: ${r.status} ${r.text}`);
  const code = String(r.json.templateCode);
  if (options.approved !== false) await approve(h, code);
  return code;
}

/** Records that every account approved the template and its signature (see testing/approvals.ts). */
export async function approve(h: Harness, templateCode: string): Promise<void> {
  const vendors = new Map(h.config.suppliers.map((s) => [s.id, s.vendor]));
  await approveTemplate(h.deps.eventStore, templateCode, vendors);
}

/** A random valid mainland mobile. */
export function randomMobile(): string {
  return `138${String(Math.floor(Math.random() * 1e8)).padStart(8, '0')}`;
}
