// The Redis template cache: one JSON value per template code, kept current
// from the template events (a disabled template stays cached with
// enabled: false, so a reader never mistakes a miss for "enabled"), with the
// checkpoint written in the same MULTI. A rebuild assembles the whole cache in
// memory and replaces it in one MULTI.
import type { RecordedEvent } from '../platform/eventStore/index.ts';
import type { Projection, ProjectorDeps, Target } from './types.ts';
import { redisPrefixOf } from '../platform/config/index.ts';

export interface CachedTemplate {
  templateId: string;
  tenantId: string;
  templateCode: string;
  name: string;
  kind: string;
  signature: string;
  content: string;
  suppliers: string[];
  policy: unknown;
  verification?: unknown;
  extendCode?: string;
  enabled: boolean;
  /** Stream version of the last template event applied. */
  version: number;
  position: number;
}

const NAME = 'template_cache';
const ID = `${NAME}@1`;

export const redisPrefix = (
  deps: Pick<ProjectorDeps, 'redisPrefix'> & { config?: unknown },
): string => redisPrefixOf(deps);
/** `<prefix>template:<code>` */
export const templateKey = (prefix: string, code: string): string => `${prefix}template:${code}`;
const indexKey = (prefix: string) => `${prefix}template-index`;
const checkpointKey = (prefix: string) => `${prefix}projection:${ID}`;

type Data = Record<string, unknown>;

function reduce(current: CachedTemplate | undefined, e: RecordedEvent): CachedTemplate | undefined {
  const d = e.data as Data;
  if (current && current.position >= e.position) return current;
  if (e.type === 'template.created.v1') {
    if (current) return current;
    const t: CachedTemplate = {
      templateId: String(d.templateId),
      tenantId: String(d.tenantId),
      templateCode: String(d.templateCode),
      name: String(d.name),
      kind: String(d.kind),
      signature: String(d.signature),
      content: String(d.content),
      suppliers: (d.suppliers as string[] | undefined) ?? [],
      policy: d.policy,
      enabled: true,
      version: e.streamVersion,
      position: e.position,
    };
    if (d.verification !== undefined) t.verification = d.verification;
    if (typeof d.extendCode === 'string') t.extendCode = d.extendCode;
    return t;
  }
  if (!current) return undefined;
  const next: CachedTemplate = { ...current, version: e.streamVersion, position: e.position };
  if (e.type === 'template.updated.v1') {
    if (d.content !== undefined) next.content = String(d.content);
    if (d.suppliers !== undefined) next.suppliers = d.suppliers as string[];
    if (d.policy !== undefined) next.policy = d.policy;
    if (d.verification !== undefined) next.verification = d.verification;
    if (typeof d.extendCode === 'string') next.extendCode = d.extendCode;
    else if (d.extendCode === null) delete next.extendCode;
  } else if (e.type === 'template.disabled.v1') next.enabled = false;
  else if (e.type === 'template.enabled.v1') next.enabled = true;
  else return current;
  return next;
}

const codeOf = (e: RecordedEvent): string | undefined =>
  e.type.startsWith('template.') ? String((e.data as Data).templateCode) : undefined;

// Builds in progress, by suffix: templates are few, a rebuild fits in memory.
const builds = new Map<string, { templates: Map<string, CachedTemplate>; position: number }>();

export const templateCache: Projection = {
  name: NAME,
  version: 1,
  store: 'redis',
  concerns: (e) => codeOf(e) !== undefined,
  async prepare(_deps, target) {
    if (target.suffix !== '') builds.set(target.suffix, { templates: new Map(), position: 0 });
  },
  async checkpoint(deps, target) {
    if (target.suffix !== '') return builds.get(target.suffix)?.position ?? 0;
    return Number((await deps.redis.get(checkpointKey(redisPrefix(deps)))) ?? 0);
  },
  async apply(deps, target, events, upTo) {
    if (target.suffix !== '') {
      const build = builds.get(target.suffix);
      if (!build) throw new Error(`no build ${target.suffix}; call prepare first`);
      for (const e of events) {
        const code = codeOf(e);
        if (code === undefined || e.position <= build.position) continue;
        const next = reduce(build.templates.get(code), e);
        if (next) build.templates.set(code, next);
      }
      build.position = Math.max(build.position, upTo);
      return;
    }
    const prefix = redisPrefix(deps);
    const checkpoint = Number((await deps.redis.get(checkpointKey(prefix))) ?? 0);
    if (upTo <= checkpoint) return;
    const fresh = events.filter((e) => e.position > checkpoint && codeOf(e) !== undefined);
    const codes = [...new Set(fresh.map((e) => codeOf(e)!))];
    const changed = new Map<string, CachedTemplate>();
    if (codes.length > 0) {
      const values = await deps.redis.mget(codes.map((c) => templateKey(prefix, c)));
      const current = new Map<string, CachedTemplate>();
      codes.forEach((c, i) => {
        const v = values[i];
        if (v) current.set(c, JSON.parse(v) as CachedTemplate);
      });
      for (const e of fresh) {
        const code = codeOf(e)!;
        const before = current.get(code);
        const next = reduce(before, e);
        if (next && next !== before) {
          current.set(code, next);
          changed.set(code, next);
        }
      }
    }
    const multi = deps.redis.multi();
    for (const [code, t] of changed) {
      multi.set(templateKey(prefix, code), JSON.stringify(t));
      multi.sadd(indexKey(prefix), code);
    }
    multi.set(checkpointKey(prefix), String(upTo));
    await multi.exec();
  },
  async swap(deps, build) {
    const state = builds.get(build.suffix);
    if (!state) throw new Error(`no build ${build.suffix}`);
    const prefix = redisPrefix(deps);
    const old = await deps.redis.smembers(indexKey(prefix));
    const multi = deps.redis.multi();
    for (const code of old) {
      if (!state.templates.has(code)) multi.del(templateKey(prefix, code));
    }
    multi.del(indexKey(prefix));
    for (const [code, t] of state.templates) {
      multi.set(templateKey(prefix, code), JSON.stringify(t));
      multi.sadd(indexKey(prefix), code);
    }
    multi.set(checkpointKey(prefix), String(state.position));
    await multi.exec();
    builds.delete(build.suffix);
  },
  async discard(_deps, build) {
    builds.delete(build.suffix);
  },
};

/** Reads one cached template (what the command side's look-up finds). */
export async function cachedTemplate(
  deps: Pick<ProjectorDeps, 'redis' | 'redisPrefix'>,
  code: string,
): Promise<CachedTemplate | undefined> {
  const v = await deps.redis.get(templateKey(redisPrefix(deps), code));
  return v ? (JSON.parse(v) as CachedTemplate) : undefined;
}

/** Every cached template, for comparisons. */
export async function allCachedTemplates(
  deps: Pick<ProjectorDeps, 'redis' | 'redisPrefix'>,
): Promise<CachedTemplate[]> {
  const prefix = redisPrefix(deps);
  const codes = (await deps.redis.smembers(indexKey(prefix))).sort();
  const out: CachedTemplate[] = [];
  for (const code of codes) {
    const t = await cachedTemplate(deps, code);
    if (t) out.push(t);
  }
  return out;
}

export type { Target };
