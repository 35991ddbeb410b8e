// Templates: create, update (content, suppliers, policy, extension code), disable and enable.
// The stream is keyed by the public, random template code. An extension code is
// reserved for the tenant on each of the template's accounts before the
// template event that uses it is appended (reserveExtendCode).
import { randomBytes, randomUUID } from 'node:crypto';
import { Router, type Request, type RequestHandler, type Response } from 'express';
import {
  extendCodeStream,
  templateDecider,
  templateStream,
  type CreateTemplate,
  type ExistingTemplate,
  type TemplateCommand,
  type TemplateEvent,
  type TemplateState,
  type UpdateTemplate,
} from '../../domain/index.ts';
import { principalOf } from '../../platform/auth/index.ts';
import type { Config } from '../../platform/config/index.ts';
import { AppError } from '../../platform/errors/index.ts';
import {
  aggregateStream,
  readStream,
  WrongExpectedVersionError,
  type EventStore,
} from '../../platform/eventStore/index.ts';
import { validateBody } from '../../platform/http/index.ts';
import {
  bindTemplateBody,
  createTemplateBody,
  updateTemplateBody,
} from '../../schemas/http/index.ts';
import type { CommandDeps } from '../deps.ts';
import { handle, metaOf, toNewEvents, type Meta } from '../commandHandling/index.ts';
import { param, tenantScope, type Principal } from '../principal.ts';

/** 120 random bits, URL-safe: unguessable. */
export function newTemplateCode(): string {
  return `T${randomBytes(15).toString('base64url')}`;
}

const CODE = /^[A-Za-z0-9_-]{1,64}$/;

/** Throws UNKNOWN_SUPPLIER naming the ids that are not configured. */
export function checkSuppliers(config: Pick<Config, 'suppliers'>, ids: readonly string[]): void {
  const known = new Set(config.suppliers.map((s) => s.id));
  const unknown = ids.filter((id) => !known.has(id));
  if (unknown.length > 0) {
    throw new AppError(
      'UNKNOWN_SUPPLIER',
      `Unknown supplier account(s): ${unknown.join(', ')}; configured: ${[...known].join(', ')}.`,
      { field: 'suppliers', unknown },
    );
  }
}

/** The tenant holding an extension code on an account; reservations never change, so they are cached. */
const holders = new WeakMap<EventStore, Map<string, string>>();

export async function extendCodeHolder(
  eventStore: EventStore,
  account: string,
  extendCode: string,
): Promise<string | undefined> {
  let byStream = holders.get(eventStore);
  if (!byStream) {
    byStream = new Map();
    holders.set(eventStore, byStream);
  }
  const stream = extendCodeStream(account, extendCode);
  const known = byStream.get(stream);
  if (known !== undefined) return known;
  const [first] = await eventStore.readStream(stream, { limit: 1 });
  const tenantId = typeof first?.data.tenantId === 'string' ? first.data.tenantId : undefined;
  if (tenantId !== undefined) {
    if (byStream.size >= CACHE_MAX) byStream.clear();
    byStream.set(stream, tenantId);
  }
  return tenantId;
}

/**
 * Reserves the extension code for the tenant on each account (a stream per
 * account and code, appended with "no stream" expected; the same tenant again
 * passes, so its templates may share a code). 409 EXTEND_CODE_TAKEN naming
 * the accounts where another tenant holds it. Reservations are kept: a reply
 * that comes back with the code weeks later still finds its tenant.
 */
export async function reserveExtendCode(
  eventStore: EventStore,
  tenantId: string,
  accounts: readonly string[],
  extendCode: string,
  meta: Meta,
): Promise<void> {
  const taken: string[] = [];
  await Promise.all(
    [...new Set(accounts)].map(async (account) => {
      if ((await extendCodeHolder(eventStore, account, extendCode)) === tenantId) return;
      try {
        await eventStore.append(
          extendCodeStream(account, extendCode),
          toNewEvents(
            [{ type: 'extend-code.reserved.v1', data: { account, extendCode, tenantId } }],
            meta,
          ),
          'no_stream',
        );
      } catch (err) {
        if (!(err instanceof WrongExpectedVersionError)) throw err;
        if ((await extendCodeHolder(eventStore, account, extendCode)) !== tenantId) {
          taken.push(account);
        }
      }
    }),
  );
  if (taken.length > 0) {
    taken.sort();
    throw new AppError(
      'EXTEND_CODE_TAKEN',
      `Extension code ${extendCode} is used by another tenant on ${taken.join(', ')}; choose another code.`,
      { field: 'extendCode', extendCode, accounts: taken },
    );
  }
}

interface CachedTemplate {
  state: TemplateState;
  /** stream version of the last event folded in */
  version: number;
  /** its event id: a deleted and re-created stream does not pass for the cached one */
  eventId: string;
}

// Template state per code, per event store. Never trusted blindly: every load
// reads the stream from the cached version on (`fromVersion: version`), so a
// disable, enable or update appended by any process applies to the very next
// send; only the events after the cached one are folded in. The read returns
// the cached last event first (checked by id) and then anything newer.
const CACHE_MAX = 10_000;
type Loaded = { state: TemplateState; version: number | 'no_stream' };
const templateCaches = new WeakMap<EventStore, Map<string, CachedTemplate>>();

async function templateState(eventStore: EventStore, templateCode: string): Promise<Loaded> {
  let cache = templateCaches.get(eventStore);
  if (!cache) {
    cache = new Map();
    templateCaches.set(eventStore, cache);
  }
  const stream = templateStream(templateCode);
  const cached = cache.get(templateCode);
  if (cached) {
    const events = await readStream<TemplateEvent>(eventStore, stream, {
      fromVersion: cached.version,
    });
    const first = events[0];
    if (first && first.streamVersion === cached.version && first.eventId === cached.eventId) {
      if (events.length === 1) return { state: cached.state, version: cached.version };
      let state = cached.state;
      for (const event of events.slice(1)) {
        state = templateDecider.evolve(state, event);
      }
      const last = events.at(-1)!;
      cache.set(templateCode, { state, version: last.streamVersion, eventId: last.eventId });
      return { state, version: last.streamVersion };
    }
    cache.delete(templateCode);
  }
  const { state, expected, events } = await aggregateStream(eventStore, templateDecider, stream);
  const last = events.at(-1);
  if (last && state.exists) {
    if (cache.size >= CACHE_MAX) cache.clear();
    cache.set(templateCode, { state, version: last.streamVersion, eventId: last.eventId });
  }
  return { state, version: expected as number | 'no_stream' };
}

interface Probe {
  current: Promise<Loaded>;
  /** the read that starts when current ends, shared by everyone who arrived meanwhile */
  next: Promise<Loaded> | undefined;
}
const probes = new WeakMap<EventStore, Map<string, Probe>>();
const ignore = () => undefined;

/**
 * The template's state from a read of its stream that started after this call
 * (so a change appended before the send arrived is always seen). Concurrent
 * sends of one template share reads: while a read is in flight, later callers
 * wait for the next one, which starts when it ends — one read per round trip
 * per template, not one per send.
 */
function freshTemplateState(eventStore: EventStore, templateCode: string): Promise<Loaded> {
  let byCode = probes.get(eventStore);
  if (!byCode) {
    byCode = new Map();
    probes.set(eventStore, byCode);
  }
  const map = byCode;
  const start = (): Promise<Loaded> => {
    const current = templateState(eventStore, templateCode);
    const probe: Probe = { current, next: undefined };
    map.set(templateCode, probe);
    current.then(ignore, ignore).then(() => {
      if (map.get(templateCode) === probe && probe.next === undefined) map.delete(templateCode);
    });
    return current;
  };
  const probe = map.get(templateCode);
  if (!probe) return start();
  probe.next ??= probe.current.then(ignore, ignore).then(start);
  return probe.next;
}

/** The template as the caller may see it; another tenant's answers TEMPLATE_NOT_FOUND (404). */
export async function loadTemplate(
  eventStore: EventStore,
  templateCode: string,
  principal: Principal,
): Promise<{ template: ExistingTemplate; version: number }> {
  if (!CODE.test(templateCode)) throw new AppError('TEMPLATE_NOT_FOUND');
  const { state, version: expected } = await freshTemplateState(eventStore, templateCode);
  if (!state.exists || (principal.role !== 'admin' && state.tenantId !== principal.userId)) {
    throw new AppError('TEMPLATE_NOT_FOUND');
  }
  return { template: state, version: expected as number };
}

// The bodies are the commands less what the service fills in.
export type CreateBody = Omit<CreateTemplate['data'], 'templateId' | 'templateCode' | 'tenantId'>;
export type UpdateBody = Omit<UpdateTemplate['data'], 'tenantId'>;

function stateBody(state: TemplateState, version: number | 'no_stream') {
  if (!state.exists) throw new AppError('TEMPLATE_NOT_FOUND');
  return {
    templateCode: state.templateCode,
    enabled: state.enabled,
    version: version === 'no_stream' ? -1 : version,
  };
}

/**
 * Creates a template for the caller's tenant (HTTP POST /v1/templates, gRPC
 * Templates.Create); the body is already checked against createTemplateBody.
 */
export async function createTemplate(
  deps: CommandDeps,
  principal: Principal,
  body: CreateBody,
  meta: Meta,
): Promise<{ templateId: string; templateCode: string }> {
  const { config, eventStore } = deps;
  const suppliers = body.suppliers ?? [...config.defaultSuppliers];
  checkSuppliers(config, suppliers);
  if (body.extendCode !== undefined) {
    await reserveExtendCode(eventStore, principal.userId, suppliers, body.extendCode, meta);
  }
  const templateCode = newTemplateCode();
  const templateId = randomUUID();
  await handle(
    eventStore,
    templateDecider,
    templateStream(templateCode),
    {
      type: 'CreateTemplate',
      data: {
        templateId,
        templateCode,
        tenantId: principal.userId,
        name: body.name,
        kind: body.kind,
        signature: body.signature,
        content: body.content,
        suppliers,
        ...(body.policy ? { policy: body.policy } : {}),
        ...(body.verification ? { verification: body.verification } : {}),
        ...(body.extendCode !== undefined ? { extendCode: body.extendCode } : {}),
        ...(body.quietHours ? { quietHours: body.quietHours } : {}),
      },
    },
    meta,
  );
  return { templateId, templateCode };
}

/**
 * Changes a template of the caller's tenant (any, for admins) and answers its
 * state (HTTP PATCH /v1/templates/:code, gRPC Templates.Update); the body is
 * already checked against updateTemplateBody.
 */
export async function updateTemplate(
  deps: CommandDeps,
  principal: Principal,
  templateCode: string,
  body: UpdateBody,
  meta: Meta,
): Promise<ReturnType<typeof stateBody>> {
  const { config, eventStore } = deps;
  if (body.suppliers) checkSuppliers(config, body.suppliers);
  if (!CODE.test(templateCode)) throw new AppError('TEMPLATE_NOT_FOUND');
  if (body.extendCode || body.suppliers) {
    // the code the template will have, on the accounts it will have
    const { template } = await loadTemplate(eventStore, templateCode, principal);
    const extendCode = body.extendCode === undefined ? template.extendCode : body.extendCode;
    if (extendCode) {
      const accounts = body.suppliers ?? template.suppliers;
      await reserveExtendCode(eventStore, template.tenantId, accounts, extendCode, meta);
    }
  }
  const result = await handle(
    eventStore,
    templateDecider,
    templateStream(templateCode),
    { type: 'UpdateTemplate', data: { ...body, tenantId: tenantScope(principal) } },
    meta,
  );
  return stateBody(result.state, result.version);
}

function codeOf(req: Parameters<RequestHandler>[0]): string {
  const code = param(req, 'code');
  if (!CODE.test(code)) throw new AppError('TEMPLATE_NOT_FOUND');
  return code;
}

export function templatesRouter(deps: CommandDeps, auth: RequestHandler): Router {
  const router = Router();
  const { eventStore } = deps;

  router.post('/v1/templates', auth, validateBody(createTemplateBody), async (req, res) => {
    const principal = principalOf(req);
    const created = await createTemplate(
      deps,
      principal,
      req.body as CreateBody,
      metaOf(req, principal),
    );
    res.status(201).location(`/v1/templates/${created.templateCode}`).json(created);
  });

  // PATCH, disable, enable: decide on the template the path names, limited to
  // the caller's tenant unless admin, and answer its state.
  const change = async (
    req: Request,
    res: Response,
    command: (tenantId: string | undefined) => TemplateCommand,
  ) => {
    const principal = principalOf(req);
    const result = await handle(
      eventStore,
      templateDecider,
      templateStream(codeOf(req)),
      command(tenantScope(principal)),
      metaOf(req, principal),
    );
    res.json(stateBody(result.state, result.version));
  };

  router.patch('/v1/templates/:code', auth, validateBody(updateTemplateBody), async (req, res) => {
    const principal = principalOf(req);
    const body = req.body as UpdateBody;
    res.json(
      await updateTemplate(deps, principal, param(req, 'code'), body, metaOf(req, principal)),
    );
  });

  // a template the tenant already has approved at the vendor; the reviewer checks it
  router.post(
    '/v1/templates/:code/bindings',
    auth,
    validateBody(bindTemplateBody),
    async (req, res) => {
      const principal = principalOf(req);
      const body = req.body as { account: string; vendorTemplateId: string };
      await handle(
        eventStore,
        templateDecider,
        templateStream(codeOf(req)),
        {
          type: 'RequestTemplateBinding',
          data: { tenantId: tenantScope(principal), ...body },
        },
        metaOf(req, principal),
      );
      res.status(202).json({
        templateCode: codeOf(req),
        account: body.account,
        vendorTemplateId: body.vendorTemplateId.trim(),
        status: 'pending',
      });
    },
  );

  for (const action of ['disable', 'enable'] as const) {
    router.post(`/v1/templates/:code/${action}`, auth, (req, res) =>
      change(req, res, (tenantId) => ({
        type: action === 'disable' ? 'DisableTemplate' : 'EnableTemplate',
        data: { tenantId },
      })),
    );
  }

  return router;
}
