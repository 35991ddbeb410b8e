// Messages.Watch: every status change of the caller's messages, from the
// event store's subscription (which never skips or reorders a committed
// event), so in global order and hence in order per message. Each change
// carries its global position; a client that passes back the last position
// it handled resumes right after it: nothing lost, nothing repeated.
import { once } from 'node:events';
import type { ServerWritableStream } from '@grpc/grpc-js';
import { MESSAGE_STREAM_PREFIX, statusOfEventType, type MessageEvent } from '../domain/index.ts';
import { canSee } from '../platform/auth/index.ts';
import { AppError } from '../platform/errors/index.ts';
import {
  readStream,
  recorded,
  type Recorded,
  type RecordedEvent,
  type Subscription,
} from '../platform/eventStore/index.ts';
import { validateInput } from '../platform/http/index.ts';
import { watchMessagesRequest } from '../schemas/http/index.ts';
import { toEnum, type CallContext } from './calls.ts';
import type { GrpcDeps } from './deps.ts';

type Obj = Record<string, unknown>;
const TYPES = Object.keys(statusOfEventType);
/** How often a watcher with nothing of its own is told how far the server looked. */
const PROGRESS_EVERY_MS = 5_000;
const OWNERS_MAX = 50_000;

// the watches of this process, ended (OK) when the server stops
const active = new Set<() => void>();

/** Ends every Watch of this process normally; their clients resume elsewhere. */
export function endWatches(): void {
  for (const end of [...active]) end();
}

/** A failure reason as the change carries it (a cancellation's reason is a plain text: none). */
function reasonOf(reason: unknown): { code: string; message: string } | undefined {
  if (typeof reason !== 'object' || reason === null || !('code' in reason)) return undefined;
  if (typeof reason.code !== 'string') return undefined;
  const message = 'message' in reason ? reason.message : undefined;
  return { code: reason.code, message: String(message ?? '') };
}

interface Owner {
  tenantId: string;
  templateCode: string;
}

interface WatchRequest {
  afterPosition?: number;
  messageIds?: string[];
  templateCode?: string;
}

/** The request, checked, and the head it starts against. */
async function readRequest(
  deps: GrpcDeps,
  call: ServerWritableStream<Obj, Obj>,
): Promise<{ req: WatchRequest; after: number; head: number }> {
  const req = validateInput<WatchRequest>(
    watchMessagesRequest,
    Object.fromEntries(Object.entries(call.request).filter(([, v]) => v !== undefined)),
    'body',
  );
  const head = await deps.eventStore.headPosition();
  const after = req.afterPosition ?? 0;
  if (after > head) {
    throw new AppError(
      'POSITION_AHEAD_OF_STORE',
      `afterPosition ${after} is beyond the event store's last position (${head}); pass a position this stream sent.`,
      { after, head },
    );
  }
  return { req, after, head };
}

/** Who sent a message: from its acceptance (in the event, or read once from its stream). */
function ownerLookup(deps: GrpcDeps) {
  const owners = new Map<string, Owner | null>();
  return async (event: Recorded<MessageEvent>, messageId: string): Promise<Owner | null> => {
    if (event.type === 'sms.accepted.v1') {
      return { tenantId: event.data.tenantId, templateCode: event.data.templateCode };
    }
    const known = owners.get(messageId);
    if (known !== undefined) return known;
    const [first] = await readStream<MessageEvent>(deps.eventStore, event.streamId, { limit: 1 });
    const owner =
      first?.type === 'sms.accepted.v1'
        ? { tenantId: first.data.tenantId, templateCode: first.data.templateCode }
        : null; // removed by retention: nobody's any more
    if (owners.size >= OWNERS_MAX) owners.clear();
    owners.set(messageId, owner);
    return owner;
  };
}

/** The status change an event makes, as the stream sends it. */
function changeOf(
  event: Recorded<MessageEvent>,
  messageId: string,
  owner: Owner,
  status: string,
): Obj {
  const d: { messageId: string; supplierAccount?: string; reason?: unknown } = event.data;
  return {
    position: event.position,
    messageId,
    templateCode: owner.templateCode,
    status: toEnum('MESSAGE_STATUS_', status),
    at: event.metadata.timestamp,
    version: event.streamVersion,
    supplierAccount: typeof d.supplierAccount === 'string' ? d.supplierAccount : undefined,
    reason: reasonOf(d.reason),
  };
}

export async function watchMessages(
  deps: GrpcDeps,
  call: ServerWritableStream<Obj, Obj>,
  ctx: CallContext,
): Promise<void> {
  const { req, after, head } = await readRequest(deps, call);
  const ids = req.messageIds ? new Set(req.messageIds) : undefined;
  const ownerOf = ownerLookup(deps);

  let sentUpTo = after;
  let busy = false;
  const write = async (item: Obj): Promise<void> => {
    if (call.cancelled) return;
    if (!call.write(item)) {
      await Promise.race([once(call, 'drain'), once(call, 'cancelled'), once(call, 'close')]);
    }
  };

  const onEvents = async (events: RecordedEvent[]): Promise<void> => {
    busy = true;
    try {
      for (const event of events.map((e) => recorded<MessageEvent>(e))) {
        if (call.cancelled) return;
        if (!event.streamId.startsWith(MESSAGE_STREAM_PREFIX)) continue;
        const status = statusOfEventType[event.type];
        const messageId = event.streamId.slice(MESSAGE_STREAM_PREFIX.length);
        if (status === undefined || (ids && !ids.has(messageId))) continue;
        const owner = await ownerOf(event, messageId);
        if (!owner || !canSee(ctx.principal, owner.tenantId)) continue;
        if (req.templateCode !== undefined && owner.templateCode !== req.templateCode) continue;
        await write({ change: changeOf(event, messageId, owner, status) });
        sentUpTo = event.position;
      }
    } finally {
      busy = false;
    }
  };

  let subscription: Subscription | undefined;
  let end = () => undefined as void;
  const done = new Promise<void>((resolve) => {
    end = resolve;
    active.add(end);
    call.once('cancelled', resolve);
    call.once('close', resolve);
    call.once('error', () => resolve());
  });
  subscription = deps.eventStore.subscribe({
    after: after === 0 ? head : after,
    types: TYPES,
    batchSize: 200,
    onEvents,
    onError: (err) => deps.logger.warn('Watch: reading the event store failed; retrying', { err }),
  });
  if (after === 0) sentUpTo = head;
  // while nothing of the caller's changes, say how far the server has looked
  const progress = setInterval(() => {
    const at = subscription?.position ?? 0;
    if (!busy && at > sentUpTo && !call.cancelled) {
      sentUpTo = at;
      void write({ progress: at });
    }
  }, PROGRESS_EVERY_MS);
  try {
    await done;
  } finally {
    active.delete(end);
    clearInterval(progress);
    await subscription.stop();
    subscription = undefined;
  }
}
