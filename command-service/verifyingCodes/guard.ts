// The SMS-pumping guard for verification codes. Pumping fraud shows as many
// codes sent to one number range and few of them checked, so per tenant and
// destination prefix (country code and the first national digits) Redis keeps
// codes sent and codes verified in minute buckets over a sliding window:
//
//   <p>guard:c:<tenantId>:<prefix>  hash  s:<minute> sent, v:<minute> verified
//   <p>guard:t:<tenantId>:<prefix>  JSON of the trip, for the cool-down
//
// When at least minVolume codes were sent in the window and fewer than
// minConversion of them were verified, the guard trips: `verification.
// guard-tripped.v1` is appended and new codes to the prefix are refused (429
// VERIFICATION_GUARD) for the cool-down. An admin sees the trips and lifts
// one early (`verification.guard-lifted.v1`).
import { luaScript } from '../../platform/clients/index.ts';
import { callingCodeOf } from '../../domain/index.ts';
import { AppError } from '../../platform/errors/index.ts';
import type { CommandDeps } from '../deps.ts';
import { toNewEvents, type Meta } from '../commandHandling/index.ts';
import { guardStream } from '../../contracts/index.ts';
import { redisPrefixOf } from '../../platform/config/index.ts';

export { guardStream };

const MINUTE_MS = 60_000;

/** `+86` and the first digits of the national number: `+8613800`. */
export function destinationPrefix(e164: string, digits: number): string {
  const cc = callingCodeOf(e164) ?? e164.slice(1, 2);
  return `+${cc}${e164.slice(1 + cc.length, 1 + cc.length + digits)}`;
}

const counts = (p: string, tenantId: string, prefix: string) => `${p}guard:c:${tenantId}:${prefix}`;
const trip = (p: string, tenantId: string, prefix: string) => `${p}guard:t:${tenantId}:${prefix}`;

const CHECK = `
if redis.call('EXISTS', KEYS[2]) == 1 then return {1, redis.call('PTTL', KEYS[2]), 0, 0} end
local now = tonumber(ARGV[1])
local window = tonumber(ARGV[2])
local sent, verified = 0, 0
local all = redis.call('HGETALL', KEYS[1])
for i = 1, #all, 2 do
  local f = all[i]
  local m = tonumber(string.sub(f, 3))
  if m and m > now - window then
    if string.sub(f, 1, 1) == 's' then sent = sent + tonumber(all[i + 1])
    else verified = verified + tonumber(all[i + 1]) end
  else
    redis.call('HDEL', KEYS[1], f)
  end
end
if sent >= tonumber(ARGV[3]) and verified * 100 < sent * tonumber(ARGV[4]) then
  local cooldown = tonumber(ARGV[5])
  redis.call('SET', KEYS[2], string.gsub(ARGV[6], '"SENT"', tostring(sent)):gsub('"VERIFIED"', tostring(verified)), 'PX', cooldown)
  redis.call('DEL', KEYS[1])
  return {2, cooldown, sent, verified}
end
return {0, 0, sent, verified}
`;

const check = luaScript<[number, number, number, number]>(CHECK);

export interface GuardTrip {
  tenantId: string;
  prefix: string;
  sent: number;
  verified: number;
  windowSeconds: number;
  trippedAt: string;
  until: string;
}

/**
 * Before a code is sent: 429 VERIFICATION_GUARD while the tenant's prefix is
 * cooling down; trips the guard (and records it) when the window's
 * conversion is under the threshold with enough volume.
 */
export async function guardOrRefuse(
  deps: CommandDeps,
  tenantId: string,
  e164: string,
  meta: Meta,
  now = Date.now(),
): Promise<string> {
  const g = deps.config.guard;
  const prefix = destinationPrefix(e164, g.prefixDigits);
  const p = redisPrefixOf(deps);
  const minute = Math.floor(now / MINUTE_MS);
  const windowMinutes = Math.max(1, Math.ceil(g.windowSeconds / 60));
  const cooldownMs = g.cooldownSeconds * 1000;
  const details = JSON.stringify({
    tenantId,
    prefix,
    sent: 'SENT',
    verified: 'VERIFIED',
    windowSeconds: g.windowSeconds,
    trippedAt: new Date(now).toISOString(),
    until: new Date(now + cooldownMs).toISOString(),
  });
  const [state, ttl, sent, verified] = await check(
    deps.redis,
    [counts(p, tenantId, prefix), trip(p, tenantId, prefix)],
    [minute, windowMinutes, g.minVolume, g.minConversionPercent, cooldownMs, details],
  );
  if (state === 0) return prefix;
  if (state === 2) {
    await deps.eventStore
      .append(
        guardStream(tenantId),
        toNewEvents(
          [
            {
              type: 'verification.guard-tripped.v1',
              data: {
                tenantId,
                prefix,
                sent,
                verified,
                windowSeconds: g.windowSeconds,
                until: new Date(now + cooldownMs).toISOString(),
              },
            },
          ],
          meta,
        ),
        'any',
      )
      .catch((err: unknown) => deps.logger.error('could not record a guard trip', { err }));
    deps.logger.warn('verification guard tripped', { tenantId, prefix, sent, verified });
  }
  const retryAfter = Math.max(1, Math.ceil(ttl / 1000));
  throw new AppError(
    'VERIFICATION_GUARD',
    `Too few of the codes sent to ${prefix}… were checked; new codes to it are refused for ${retryAfter} s.`,
    { rule: 'VERIFICATION_GUARD', prefix, retryAfterSeconds: retryAfter },
    { 'Retry-After': String(retryAfter) },
  );
}

async function bump(
  deps: CommandDeps,
  tenantId: string,
  e164: string,
  field: 's' | 'v',
  now: number,
): Promise<void> {
  const g = deps.config.guard;
  const key = counts(redisPrefixOf(deps), tenantId, destinationPrefix(e164, g.prefixDigits));
  await deps.redis
    .multi()
    .hincrby(key, `${field}:${Math.floor(now / MINUTE_MS)}`, 1)
    .pexpire(key, g.windowSeconds * 1000 + MINUTE_MS)
    .exec();
}

/** After a code was accepted. */
export async function countSent(
  deps: CommandDeps,
  tenantId: string,
  e164: string,
  now = Date.now(),
) {
  await bump(deps, tenantId, e164, 's', now).catch((err: unknown) =>
    deps.logger.warn('could not count a code for the guard', { err }),
  );
}

/** After a code was verified. */
export async function countVerified(
  deps: CommandDeps,
  tenantId: string,
  e164: string,
  now = Date.now(),
) {
  await bump(deps, tenantId, e164, 'v', now).catch((err: unknown) =>
    deps.logger.warn('could not count a verified code for the guard', { err }),
  );
}

/** The guards tripped now (admins). */
export async function trippedGuards(deps: CommandDeps): Promise<GuardTrip[]> {
  const p = redisPrefixOf(deps);
  const out: GuardTrip[] = [];
  let cursor = '0';
  do {
    const [next, keys] = await deps.redis.scan(cursor, 'MATCH', `${p}guard:t:*`, 'COUNT', 500);
    cursor = next;
    if (keys.length === 0) continue;
    for (const value of await deps.redis.mget(...keys)) {
      if (value) out.push(JSON.parse(value) as GuardTrip);
    }
  } while (cursor !== '0');
  return out.sort((a, b) => a.trippedAt.localeCompare(b.trippedAt));
}

/** Lifts a trip before its cool-down ends, and starts the counts afresh. */
export async function liftGuard(
  deps: CommandDeps,
  tenantId: string,
  prefix: string,
  meta: Meta,
): Promise<void> {
  const p = redisPrefixOf(deps);
  const wasTripped = (await deps.redis.del(trip(p, tenantId, prefix))) > 0;
  await deps.redis.del(counts(p, tenantId, prefix));
  if (!wasTripped)
    throw new AppError('NOT_FOUND', 'No guard is tripped for that tenant and prefix.');
  await deps.eventStore.append(
    guardStream(tenantId),
    toNewEvents([{ type: 'verification.guard-lifted.v1', data: { tenantId, prefix } }], meta),
    'any',
  );
}
