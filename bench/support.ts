// The accept benchmark's load, shared by bench/accept.ts and
// bench/lagUnderAccept.ts: a fresh user and a template that carries every kind
// of limit, then autocannon sending POST /v1/messages to random mobiles.
import { randomBytes } from 'node:crypto';
import autocannon from 'autocannon';

async function post(url: string, body: unknown, token?: string) {
  const res = await fetch(url, {
    method: 'POST',
    headers: {
      'content-type': 'application/json',
      ...(token ? { authorization: `Bearer ${token}` } : {}),
    },
    body: JSON.stringify(body),
  });
  return (await res.json()) as Record<string, unknown>;
}

/** Sends to the command service at base for `duration` seconds over `connections`. */
export async function sendLoad(
  base: string,
  options: {
    connections: number;
    duration: number;
    beforeLoad?: () => void;
    /** Records the vendors' approval of the template and its signature (no reviewer runs here). */
    approve: (templateCode: string) => Promise<void>;
  },
): Promise<autocannon.Result> {
  const username = `bench${randomBytes(3).toString('hex')}`;
  await post(`${base}/v1/users`, { username, password: 'benchmark password' });
  const { token } = (await post(`${base}/v1/sessions`, {
    username,
    password: 'benchmark password',
  })) as { token: string };
  const { templateCode } = (await post(
    `${base}/v1/templates`,
    {
      name: 'bench',
      kind: 'notification',
      signature: 'Bench',
      content: 'Order ${order} shipped.',
      // Every kind of limit is reserved on each send (one Lua script in Redis);
      // random mobiles keep the per-mobile limits from biting.
      policy: {
        mobile: { minIntervalSeconds: 60, maxPerHour: 5, maxPerDay: 10 },
        template: { maxPerDay: 100_000_000 },
        tenant: { maxPerDay: 100_000_000 },
      },
    },
    token,
  )) as { templateCode: string };
  await options.approve(templateCode);
  options.beforeLoad?.();
  return autocannon({
    url: `${base}/v1/messages`,
    connections: options.connections,
    duration: options.duration,
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
    requests: [
      {
        setupRequest: (req) => ({
          ...req,
          body: JSON.stringify({
            templateCode,
            mobile: `13${String(Math.floor(Math.random() * 1e9)).padStart(9, '0')}`,
            params: { order: randomBytes(4).toString('hex') },
          }),
        }),
      },
    ],
  });
}
