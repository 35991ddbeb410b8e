// A tenant's callback receiver for the tests: verifies every signature (a
// bad one is recorded, and answered 400), can be told to answer 500 for a
// while, and keeps what it accepted, de-duplicated by event id.
import { createServer, type Server } from 'node:http';
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import { verifySignature } from '../../platform/callbacks/index.ts';

export interface Received {
  id: string;
  type: string;
  createdAt: string;
  data: Record<string, unknown>;
  raw: string;
  headers: Record<string, string | string[] | undefined>;
}

export interface Receiver {
  url: string;
  /** Every call answered 2xx, in arrival order (duplicates included). */
  accepted: Received[];
  /** Accepted calls, first of each event id only. */
  unique(): Received[];
  /** Calls answered 500 because of failFor / failWhile. */
  failed: number;
  /** Calls whose signature did not verify. */
  badSignatures: string[];
  /** Answer 500 to everything until this is set to false. */
  failing: boolean;
  /** Secret(s) a call may be signed with. */
  secrets: string[];
  close(): Promise<void>;
}

export async function startReceiver(secrets: string[] = []): Promise<Receiver> {
  const r: Receiver = {
    url: '',
    accepted: [],
    failed: 0,
    badSignatures: [],
    failing: false,
    secrets,
    unique() {
      const seen = new Set<string>();
      return r.accepted.filter((x) => !seen.has(x.id) && Boolean(seen.add(x.id)));
    },
    close: async () => undefined,
  };
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const raw = Buffer.concat(chunks).toString('utf8');
      const header = req.headers['streaming-signature'];
      const ok = r.secrets.some((s) =>
        verifySignature(typeof header === 'string' ? header : undefined, raw, s),
      );
      if (!ok) {
        r.badSignatures.push(raw);
        res.writeHead(400).end('bad signature');
        return;
      }
      if (r.failing) {
        r.failed++;
        res.writeHead(500).end('receiver down');
        return;
      }
      const body = JSON.parse(raw) as Omit<Received, 'raw' | 'headers'>;
      r.accepted.push({ ...body, raw, headers: req.headers });
      res.writeHead(204).end();
    });
  });
  server.keepAliveTimeout = 1_000;
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  r.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/hooks`;
  r.close = async () => {
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  };
  return r;
}

export async function until<T>(
  what: string,
  probe: () => T | undefined | false | Promise<T | undefined | false>,
  ms = 30_000,
): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = await probe();
    if (v !== undefined && v !== false) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((res) => setTimeout(res, 50));
  }
}
