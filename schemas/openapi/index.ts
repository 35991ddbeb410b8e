// The OpenAPI 3.1 document of the HTTP API, built from the JSON Schemas the
// services validate with.
import { problemResponse } from '../http/index.ts';
import { callbackPayloadSchema } from '../callbacks.ts';
import { commandPaths } from './command.ts';
import { queryPaths } from './query.ts';

export { commandPaths } from './command.ts';
export { queryPaths } from './query.ts';

export interface OpenApiDocument {
  openapi: '3.1.0';
  info: { title: string; version: string; description: string };
  paths: Record<string, Record<string, unknown>>;
  webhooks: Record<string, Record<string, unknown>>;
  components: Record<string, unknown>;
}

export function buildOpenApi(
  options: { paths?: 'all' | 'command' | 'query' } = {},
): OpenApiDocument {
  const which = options.paths ?? 'all';
  const paths: Record<string, Record<string, unknown>> = {};
  const add = (from: Record<string, unknown>) => {
    for (const [path, ops] of Object.entries(from)) {
      paths[path] = { ...(paths[path] ?? {}), ...(ops as Record<string, unknown>) };
    }
  };
  if (which !== 'query') add(commandPaths);
  if (which !== 'command') add(queryPaths);
  return {
    openapi: '3.1.0',
    info: {
      title: 'streaming SMS API',
      version: '1',
      description:
        'Multi-tenant SMS: templates with rate-limit policies, sending, verification codes, history. ' +
        'Errors are problem bodies {code, message, requestId, details} with a stable code.',
    },
    paths,
    webhooks: {
      callback: {
        post: {
          summary:
            "What streaming POSTs to a callback endpoint (and to a send's statusCallback): one event, " +
            'signed with Streaming-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<raw body>"> ' +
            'under the endpoint secret. Answer 2xx within 5 s; anything else is retried with backoff ' +
            'for 24 h. De-duplicate on id. See docs/callbacks.md.',
          parameters: [
            {
              name: 'Streaming-Signature',
              in: 'header',
              required: true,
              schema: { type: 'string' },
            },
            {
              name: 'Streaming-Event-Id',
              in: 'header',
              required: true,
              schema: { type: 'string' },
            },
            {
              name: 'Streaming-Delivery-Id',
              in: 'header',
              required: true,
              schema: { type: 'string' },
            },
          ],
          requestBody: {
            required: true,
            content: {
              'application/json': { schema: { $ref: '#/components/schemas/CallbackEvent' } },
            },
          },
          responses: { '200': { description: 'Any 2xx: received.' } },
        },
      },
    },
    components: {
      securitySchemes: {
        bearer: {
          type: 'http',
          scheme: 'bearer',
          description: 'A JWT from POST /v1/sessions, or an API key sk_<id>_<secret>.',
        },
      },
      schemas: { Problem: problemResponse, CallbackEvent: callbackPayloadSchema },
    },
  };
}
