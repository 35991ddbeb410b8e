// The pipeline of every process, in one place: each process that runs
// processors or projections writes its parts' reports to Redis every 2 s
// (keys that expire after 10 s), so /healthz/pipeline on any service and
// `streaming projections status` show the whole system, whichever process
// runs which part. Each report is also kept, without the expiry, in a hash
// of the parts known to run: a part whose process died (SIGKILL, a hang)
// and that no other process reports is shown as stalled, "its process
// stopped reporting", for as long as nobody runs it, not dropped from the
// answer once its key expires. A process that stops cleanly takes its parts
// out of both.
import type { Redis } from 'ioredis';
import type { PartReport, Pipeline } from './pipeline.ts';

export interface SharedPartReport extends PartReport {
  /** The process that reported it. */
  process: string;
  pid: number;
  /** When it was reported (ms epoch). */
  at: number;
}

const TTL_MS = 10_000;
/** A report this old comes from a process that no longer publishes (it publishes every 2 s). */
const STALE_MS = 5_000;
/** A known part nobody reported for this long is forgotten (a part removed from the system). */
const FORGET_MS = 24 * 3600_000;
const keyPrefix = (prefix: string) => `${prefix}health:part:`;
const knownKey = (prefix: string) => `${prefix}health:known`;

export function publishPipeline(
  redis: Redis,
  pipeline: Pipeline,
  head: () => Promise<number>,
  options: { process: string; prefix?: string; everyMs?: number },
): { stop(): Promise<void> } {
  const prefix = keyPrefix(options.prefix ?? 'streaming:');
  const known = knownKey(options.prefix ?? 'streaming:');
  let running: Promise<void> = Promise.resolve();
  /** The fields this process published: a part closed since is taken out, not left to stall. */
  let published = new Set<string>();
  const withdraw = (fields: string[]) =>
    redis
      .multi()
      .del(...fields.map((f) => `${prefix}${f}`))
      .hdel(known, ...fields)
      .exec();
  const publish = async () => {
    // a process without parts (the APIs) reads no head and sends nothing
    if (pipeline.size() === 0 && published.size === 0) return;
    const reports = pipeline.report(await head().catch(() => undefined));
    const at = Date.now();
    const now = new Set<string>();
    const multi = redis.multi();
    for (const r of reports) {
      const field = `${r.name}:${process.pid}`;
      const shared: SharedPartReport = { ...r, process: options.process, pid: process.pid, at };
      multi.set(`${prefix}${field}`, JSON.stringify(shared), 'PX', TTL_MS);
      multi.hset(known, field, JSON.stringify(shared));
      now.add(field);
    }
    if (reports.length > 0) await multi.exec();
    else multi.discard();
    const gone = [...published].filter((f) => !now.has(f));
    if (gone.length > 0) await withdraw(gone);
    published = now;
  };
  const timer = setInterval(() => {
    running = running.then(publish).catch(() => undefined); // Redis away: the keys expire
  }, options.everyMs ?? 2_000);
  timer.unref();
  return {
    async stop() {
      clearInterval(timer);
      await running;
      // this process no longer runs them
      const fields = [
        ...new Set([
          ...published,
          ...pipeline.report(undefined).map((r) => `${r.name}:${process.pid}`),
        ]),
      ];
      if (fields.length > 0) await withdraw(fields).catch(() => undefined);
    },
  };
}

/**
 * Every part reported by a live process, the active instance first for each
 * name; and every part known to run that no live process reports any more,
 * as stalled.
 */
export async function readSharedPipeline(
  redis: Redis,
  prefix = 'streaming:',
): Promise<SharedPartReport[]> {
  const match = `${keyPrefix(prefix)}*`;
  const keys: string[] = [];
  let cursor = '0';
  do {
    const [next, found] = await redis.scan(cursor, 'MATCH', match, 'COUNT', 500);
    cursor = next;
    keys.push(...found);
  } while (cursor !== '0');
  const values = keys.length > 0 ? await redis.mget(...keys) : [];
  const known = await redis.hgetall(knownKey(prefix));
  const now = Date.now();
  const live = values
    .filter((v): v is string => v !== null)
    .map((v) => JSON.parse(v) as SharedPartReport);
  const reports = live.map((r) =>
    // its process stopped reporting (killed, or hung): until the key expires, say so
    now - r.at > STALE_MS && r.state !== 'standby'
      ? { ...r, state: 'stalled' as const, error: `its process (pid ${r.pid}) stopped reporting` }
      : r,
  );
  // the key expired: unless another process runs the part now, it is stalled, not gone
  const reported = new Set(live.map((r) => `${r.name}:${r.pid}`));
  const running = new Set(live.map((r) => r.name));
  const forget: string[] = [];
  const lost = new Map<string, SharedPartReport>();
  for (const [field, value] of Object.entries(known)) {
    if (reported.has(field)) continue;
    let r: SharedPartReport;
    try {
      r = JSON.parse(value) as SharedPartReport;
    } catch {
      forget.push(field);
      continue;
    }
    if (running.has(r.name) || now - r.at > FORGET_MS) {
      forget.push(field);
      continue;
    }
    // one line per part: the process that reported it last
    const seen = lost.get(r.name);
    if (seen && seen.at >= r.at) continue;
    const silentSeconds = Math.round((now - r.at) / 1000);
    lost.set(r.name, {
      ...r,
      state: 'stalled',
      idleSeconds: Math.max(r.idleSeconds, silentSeconds),
      error: `its process (pid ${r.pid}) stopped reporting ${silentSeconds} s ago and no other runs it`,
    });
  }
  if (forget.length > 0) {
    await redis.hdel(knownKey(prefix), ...forget).catch(() => undefined);
  }
  reports.push(...lost.values());
  const rank = (r: SharedPartReport) => (r.state === 'standby' ? 1 : 0);
  return reports.sort((a, b) => a.name.localeCompare(b.name) || rank(a) - rank(b));
}
