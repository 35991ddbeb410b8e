// The pipeline of every process, in one place: each process that runs
// processors or projections writes its parts' reports to Redis every 2 s
// (keys that expire after 10 s), so /healthz/pipeline on any service and
// `streaming projections status` show the whole system, whichever process
// runs which part. A part whose process died disappears after 10 s; if no
// other instance reports it, it is listed as missing.
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
const keyPrefix = (prefix: string) => `${prefix}health:part:`;

export function publishPipeline(
  redis: Redis,
  pipeline: Pipeline,
  head: () => Promise<number>,
  options: { process: string; prefix?: string; everyMs?: number },
): { stop(): Promise<void> } {
  const prefix = keyPrefix(options.prefix ?? 'streaming:');
  let running: Promise<void> = Promise.resolve();
  const publish = async () => {
    const reports = pipeline.report(await head().catch(() => undefined));
    if (reports.length === 0) return;
    const at = Date.now();
    const multi = redis.multi();
    for (const r of reports) {
      const shared: SharedPartReport = { ...r, process: options.process, pid: process.pid, at };
      multi.set(`${prefix}${r.name}:${process.pid}`, JSON.stringify(shared), 'PX', TTL_MS);
    }
    await multi.exec();
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
      const keys = pipeline.report(undefined).map((r) => `${prefix}${r.name}:${process.pid}`);
      if (keys.length > 0) await redis.del(...keys).catch(() => undefined);
    },
  };
}

/** Every part reported by a live process, the active instance first for each name. */
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
  if (keys.length === 0) return [];
  const values = await redis.mget(...keys);
  const now = Date.now();
  const reports = values
    .filter((v): v is string => v !== null)
    .map((v) => JSON.parse(v) as SharedPartReport)
    .map((r) =>
      // its process stopped reporting (killed, or hung): until the key expires, say so
      now - r.at > STALE_MS && r.state !== 'standby'
        ? { ...r, state: 'stalled' as const, error: `its process (pid ${r.pid}) stopped reporting` }
        : r,
    );
  const rank = (r: SharedPartReport) => (r.state === 'standby' ? 1 : 0);
  return reports.sort((a, b) => a.name.localeCompare(b.name) || rank(a) - rank(b));
}
