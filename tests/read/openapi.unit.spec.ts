// The query API is documented in the OpenAPI document with the command API,
// from the very schemas the service validates with.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { buildOpenApi } from '../../schemas/openapi/index.ts';
import { listMessagesQuery, queryPaths, statsQuery } from '../../schemas/openapi/query.ts';
import { verifyAuditText, createChain, canonicalJson } from '../../query-service/index.ts';

describe('query API documentation', () => {
  it('documents every query route with its parameters and error codes', () => {
    const doc = buildOpenApi();
    for (const path of [
      '/v1/messages',
      '/v1/messages/{id}',
      '/v1/templates',
      '/v1/templates/{code}',
      '/v1/inbound',
      '/v1/stats',
      '/v1/audit/export',
    ]) {
      const op = (
        doc.paths[path] as { get?: { parameters: { name: string }[]; 'x-error-codes': string[] } }
      )?.get;
      assert.ok(op, path);
      assert.ok(
        op.parameters.some((p) => p.name === 'after'),
        `${path} has after=`,
      );
      assert.ok(op['x-error-codes'].includes('READ_MODEL_LAGGING'), path);
    }
    const messages = (
      queryPaths['/v1/messages'] as {
        get: { parameters: { name: string }[]; 'x-error-codes': string[] };
      }
    ).get;
    assert.deepEqual(
      messages.parameters.map((p) => p.name).sort(),
      Object.keys(listMessagesQuery.properties).sort(),
    );
    assert.ok(messages['x-error-codes'].includes('INVALID_CURSOR'));
    assert.ok(Object.keys(statsQuery.properties).includes('granularity'));
  });

  it('documents the template extension code where it is written and where it is read', () => {
    const doc = buildOpenApi();
    type Schema = { properties: Record<string, Record<string, unknown>> };
    const body = (method: 'post' | 'patch', path: string) =>
      (
        doc.paths[path] as Record<
          string,
          { requestBody: { content: { 'application/json': { schema: Schema } } } }
        >
      )[method]!.requestBody.content['application/json'].schema;
    const created = body('post', '/v1/templates').properties.extendCode!;
    assert.equal(created.pattern, '^[0-9]{1,6}$');
    assert.match(String(created.description), /SmsUpExtendCode/);
    const patched = body('patch', '/v1/templates/{code}').properties.extendCode!;
    assert.deepEqual(
      (patched.anyOf as { type: string }[]).map((s) => s.type),
      ['string', 'null'],
    );
    const read = (
      doc.paths['/v1/templates/{code}'] as {
        get: { responses: { 200: { content: { 'application/json': { schema: Schema } } } } };
      }
    ).get.responses[200].content['application/json'].schema;
    assert.ok(read.properties.extendCode, 'GET /v1/templates/{code} shows extendCode');
  });
});

describe('audit hash chain', () => {
  it('is canonical: key order does not change a hash', () => {
    assert.equal(
      canonicalJson({ b: 1, a: { d: [1, { f: 2, e: 1 }], c: null } }),
      '{"a":{"c":null,"d":[1,{"e":1,"f":2}]},"b":1}',
    );
  });

  it('chains each record to the one before', () => {
    const chain = createChain();
    const fields = (i: number) => ({
      eventId: `e${i}`,
      streamId: 's',
      version: i,
      position: i + 1,
      type: 't.v1',
      at: '2026-03-01T00:00:00.000Z',
      tenantId: 'x',
      actor: { type: 'system', id: 'y' },
      payload: { i },
    });
    const a = chain.next(fields(0));
    const b = chain.next(fields(1));
    assert.equal(b.prevHash, a.hash);
    assert.equal(a.seq, 1);
    assert.equal(b.seq, 2);
    const manifest = { manifest: { count: 2, lastHash: chain.lastHash } };
    const text = [JSON.stringify(a), JSON.stringify(b), JSON.stringify(manifest)].join('\n');
    assert.equal(verifyAuditText(text).ok, true);
    // a forged record re-hashed on its own still breaks the link to the next one
    const forged = { ...a, payload: { i: 99 } };
    const rehashed = createChain().next({ ...fields(0), payload: { i: 99 } });
    assert.equal(forged.hash, a.hash);
    const result = verifyAuditText(
      [JSON.stringify(rehashed), JSON.stringify(b), JSON.stringify(manifest)].join('\n'),
    );
    assert.equal(result.ok, false);
    assert.equal(result.problems[0]!.line, 1);
    assert.equal(result.problems[0]!.kind, 'edited');
  });
});
