// API keys: create (shown once, stored hashed), list without secrets, revoke.
// The list comes from a per-owner index of key ids in Redis; each key's name
// and state come from its own stream, the source of truth.
import { Router } from 'express';
import { apiKeyDecider, apiKeyStream, type ApiKeyState } from '../../domain/index.ts';
import { generateApiKey, principalOf } from '../../platform/auth/index.ts';
import type { RequestHandler } from 'express';
import { validateBody } from '../../platform/http/index.ts';
import { AppError } from '../../platform/errors/index.ts';
import { createApiKeyBody } from '../../schemas/http/index.ts';
import type { CommandDeps } from '../deps.ts';
import { aggregateStream } from '../../platform/eventStore/index.ts';
import { handle, metaOf } from '../commandHandling/index.ts';
import { param } from '../principal.ts';
import { redisPrefixOf } from '../../platform/config/index.ts';

const indexKey = (prefix: string, userId: string) => `${prefix}apikeys:${userId}`;
const ALL = '*';

export function apiKeysRouter(deps: CommandDeps, auth: RequestHandler): Router {
  const router = Router();
  const prefix = redisPrefixOf(deps);

  router.post('/v1/api-keys', auth, validateBody(createApiKeyBody), async (req, res) => {
    const principal = principalOf(req);
    const { name = '' } = req.body as { name?: string };
    const fresh = generateApiKey(deps.config);
    await handle(
      deps.eventStore,
      apiKeyDecider,
      apiKeyStream(fresh.keyId),
      {
        type: 'CreateApiKey',
        data: { keyId: fresh.keyId, userId: principal.userId, name, keyHash: fresh.keyHash },
      },
      metaOf(req, principal),
    );
    await deps.redis
      .multi()
      .zadd(indexKey(prefix, principal.userId), Date.now(), fresh.keyId)
      .zadd(indexKey(prefix, ALL), Date.now(), fresh.keyId)
      .exec();
    res.setHeader('Cache-Control', 'no-store');
    res.status(201).json({ id: fresh.keyId, key: fresh.key });
  });

  router.get('/v1/api-keys', auth, async (req, res) => {
    const principal = principalOf(req);
    const owner = principal.role === 'admin' ? ALL : principal.userId;
    const ids = await deps.redis.zrange(indexKey(prefix, owner), '0', '999');
    const items = [];
    for (const id of ids) {
      const { state, events } = await aggregateStream(
        deps.eventStore,
        apiKeyDecider,
        apiKeyStream(id),
      );
      if (!state.exists) continue;
      const s: Extract<ApiKeyState, { exists: true }> = state;
      const revokedEvent = events.find((e) => e.type === 'apikey.revoked.v1');
      items.push({
        id: s.keyId,
        name: s.name,
        userId: s.userId,
        revoked: s.revoked,
        createdAt: events[0]!.metadata.timestamp,
        ...(revokedEvent ? { revokedAt: revokedEvent.metadata.timestamp } : {}),
      });
    }
    res.json({ items });
  });

  router.delete('/v1/api-keys/:id', auth, async (req, res) => {
    const principal = principalOf(req);
    const keyId = param(req, 'id');
    if (!/^[0-9a-f-]{36}$/.test(keyId)) throw new AppError('NOT_FOUND', 'No such API key.');
    await handle(
      deps.eventStore,
      apiKeyDecider,
      apiKeyStream(keyId),
      {
        type: 'RevokeApiKey',
        data: { userId: principal.userId, isAdmin: principal.role === 'admin' },
      },
      metaOf(req, principal),
    );
    res.status(204).end();
  });

  return router;
}
