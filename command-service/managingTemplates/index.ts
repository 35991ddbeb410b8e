// Templates: create, update (content, suppliers, policy, extension code), disable and enable.
// The stream is keyed by the public, random template code.
import { randomBytes, randomUUID } from 'node:crypto';
import { Router, type Request, type RequestHandler, type Response } from 'express';
import {
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
import type { EventStore } from '../../platform/eventStore/index.ts';
import { validateBody } from '../../platform/http/index.ts';
import {
  bindTemplateBody,
  createTemplateBody,
  updateTemplateBody,
} from '../../schemas/http/index.ts';
import type { CommandDeps } from '../deps.ts';
import { handle, load, metaOf } from '../commandHandling/index.ts';
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
    const events = await eventStore.readStream(stream, { fromVersion: cached.version });
    const first = events[0];
    if (first && first.streamVersion === cached.version && first.eventId === cached.eventId) {
      if (events.length === 1) return { state: cached.state, version: cached.version };
      let state = cached.state;
      for (const event of events.slice(1)) {
        state = templateDecider.evolve(state, event as unknown as TemplateEvent);
      }
      const last = events.at(-1)!;
      cache.set(templateCode, { state, version: last.streamVersion, eventId: last.eventId });
      return { state, version: last.streamVersion };
    }
    cache.delete(templateCode);
  }
  const { state, expected, events } = await load(eventStore, templateDecider, stream);
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
type CreateBody = Omit<CreateTemplate['data'], 'templateId' | 'templateCode' | 'tenantId'>;
type UpdateBody = Omit<UpdateTemplate['data'], 'tenantId'>;

function stateBody(state: TemplateState, version: number | 'no_stream') {
  if (!state.exists) throw new AppError('TEMPLATE_NOT_FOUND');
  return {
    templateCode: state.templateCode,
    enabled: state.enabled,
    version: version === 'no_stream' ? -1 : version,
  };
}

function codeOf(req: Parameters<RequestHandler>[0]): string {
  const code = param(req, 'code');
  if (!CODE.test(code)) throw new AppError('TEMPLATE_NOT_FOUND');
  return code;
}

export function templatesRouter(deps: CommandDeps, auth: RequestHandler): Router {
  const router = Router();
  const { config, eventStore } = deps;

  router.post('/v1/templates', auth, validateBody(createTemplateBody), async (req, res) => {
    const principal = principalOf(req);
    const body = req.body as CreateBody;
    const suppliers = body.suppliers ?? [...config.defaultSuppliers];
    checkSuppliers(config, suppliers);
    const templateCode = newTemplateCode();
    const templateId = randomUUID();
    await handle(
      eventStore,
      templateDecider,
      templateStream(templateCode),
      (state) =>
        templateDecider.decide(
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
            },
          },
          state,
        ),
      metaOf(req, principal),
      0,
    );
    res.status(201).location(`/v1/templates/${templateCode}`).json({ templateId, templateCode });
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
      (state) => templateDecider.decide(command(tenantScope(principal)), state),
      metaOf(req, principal),
    );
    res.json(stateBody(result.state, result.version));
  };

  router.patch('/v1/templates/:code', auth, validateBody(updateTemplateBody), async (req, res) => {
    const body = req.body as UpdateBody;
    if (body.suppliers) checkSuppliers(config, body.suppliers);
    await change(req, res, (tenantId) => ({ type: 'UpdateTemplate', data: { ...body, tenantId } }));
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
        (state) =>
          templateDecider.decide(
            {
              type: 'RequestTemplateBinding',
              data: { tenantId: tenantScope(principal), ...body },
            },
            state,
          ),
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
