import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { PassThrough } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import { loadConfig } from '../config/index.ts';
import { AppError } from '../errors/index.ts';
import { createLogger } from '../logger/index.ts';
import {
  createHttpApp,
  finishHttpApp,
  startHttpServer,
  validateBody,
  validateQuery,
  type Readiness,
  type RunningHttpServer,
} from './index.ts';

interface Reply {
  status: number;
  headers: http.IncomingHttpHeaders;
  text: string;
  json: Record<string, unknown>;
}

function request(
  base: string,
  urlPath: string,
  opts: {
    method?: string;
    headers?: Record<string, string>;
    body?: string | Buffer;
    agent?: http.Agent;
    ca?: Buffer;
  } = {},
): Promise<Reply> {
  const url = new URL(urlPath, base);
  const lib = url.protocol === 'https:' ? https : http;
  return new Promise((resolve, reject) => {
    const req = lib.request(
      url,
      {
        method: opts.method ?? 'GET',
        headers: opts.headers,
        agent: opts.agent,
        ...(opts.ca ? { ca: opts.ca, servername: 'localhost' } : {}),
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          let json: Record<string, unknown> = {};
          try {
            json = JSON.parse(text) as Record<string, unknown>;
          } catch {
            // not JSON
          }
          resolve({ status: res.statusCode ?? 0, headers: res.headers, text, json });
        });
      },
    );
    req.on('error', reject);
    req.end(opts.body);
  });
}

function logCapture() {
  const stream = new PassThrough();
  const lines: Record<string, unknown>[] = [];
  stream.on('data', (chunk: Buffer) => {
    for (const line of chunk.toString('utf8').split('\n')) {
      if (line.trim()) lines.push(JSON.parse(line) as Record<string, unknown>);
    }
  });
  return { lines, logger: createLogger({ logLevel: 'debug' }, { name: 'http-test', stream }) };
}

const config = loadConfig({
  STREAMING_ENV: 'test',
  STREAMING_CORS_ORIGINS: 'https://app.example.com',
  STREAMING_BODY_LIMIT: '1kb',
});

function buildApp(readiness: Readiness, logger = logCapture().logger) {
  const app = createHttpApp({ config, logger, name: 'test', readiness });
  app.post(
    '/echo',
    validateBody({
      type: 'object',
      required: ['mobile'],
      additionalProperties: false,
      properties: {
        mobile: { type: 'string' },
        count: { type: 'integer', minimum: 1 },
        kind: { enum: ['code', 'notice'] },
      },
    }),
    (req, res) => {
      logger.info('echoing', { mobile: (req.body as { mobile: string }).mobile });
      res.json({ body: req.body, requestId: req.requestId, correlationId: req.correlationId });
    },
  );
  app.get(
    '/items',
    validateQuery({
      type: 'object',
      additionalProperties: false,
      properties: { limit: { type: 'integer', minimum: 1, maximum: 100, default: 20 } },
    }),
    (req, res) => {
      res.json({ limit: req.query.limit, type: typeof req.query.limit });
    },
  );
  app.get('/throttled', () => {
    throw new AppError('LOGIN_THROTTLED', 'Too many failed logins; retry in 30 s.', undefined, {
      'Retry-After': '30',
    });
  });
  app.get('/boom', async () => {
    await sleep(1);
    throw new Error('connect ECONNREFUSED 10.0.0.7:3306 at /srv/secret/path.ts');
  });
  app.get('/slow', async (req, res) => {
    await sleep(Number(req.query.ms ?? 300));
    res.json({ slow: true });
  });
  return finishHttpApp(app);
}

describe('createHttpApp / finishHttpApp', () => {
  const logs = logCapture();
  let srv: RunningHttpServer;
  let down: RunningHttpServer;

  before(async () => {
    srv = await startHttpServer(
      buildApp(async () => ({ mysql: 'ok', redis: 'ok' }), logs.logger),
      {
        host: '127.0.0.1',
        port: 0,
      },
    );
    down = await startHttpServer(
      buildApp(async () => ({ mysql: 'ok', kafka: 'timeout after 1000 ms' })),
      { host: '127.0.0.1', port: 0 },
    );
  });
  after(async () => {
    await srv.close();
    await down.close();
  });

  describe('request id', () => {
    it('accepts a sane X-Request-Id and echoes it, with the correlation id defaulting to it', async () => {
      const r = await request(srv.url, '/echo', {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'x-request-id': 'abc.DEF-123_x' },
        body: JSON.stringify({ mobile: '13800138000' }),
      });
      assert.equal(r.status, 200);
      assert.equal(r.headers['x-request-id'], 'abc.DEF-123_x');
      assert.equal(r.headers['x-correlation-id'], 'abc.DEF-123_x');
      assert.equal(r.json.requestId, 'abc.DEF-123_x');
      assert.equal(r.json.correlationId, 'abc.DEF-123_x');
    });

    it('generates a UUID when the header is missing or not sane', async () => {
      const cases: Record<string, string>[] = [
        {},
        { 'x-request-id': 'bad id with spaces' },
        { 'x-request-id': 'a'.repeat(129) },
      ];
      for (const headers of cases) {
        const r = await request(srv.url, '/healthz', { headers });
        assert.match(String(r.headers['x-request-id']), /^[0-9a-f-]{36}$/);
      }
    });

    it('keeps a given X-Correlation-Id', async () => {
      const r = await request(srv.url, '/healthz', { headers: { 'x-correlation-id': 'corr-1' } });
      assert.equal(r.headers['x-correlation-id'], 'corr-1');
      assert.notEqual(r.headers['x-request-id'], 'corr-1');
    });

    it('stamps request and correlation ids on lines logged in a route after body parsing, masked', async () => {
      await request(srv.url, '/echo', {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          'x-request-id': 'ctx-check',
          'x-correlation-id': 'corr-ctx',
        },
        body: JSON.stringify({ mobile: '13800138000' }),
      });
      await sleep(20);
      const line = logs.lines.find((l) => l.message === 'echoing' && l.requestId === 'ctx-check');
      assert.ok(line, 'route log line carries the request id');
      assert.equal(line.correlationId, 'corr-ctx');
      assert.equal(line.mobile, '138****8000');
      const access = logs.lines.find((l) => l.message === 'request' && l.requestId === 'ctx-check');
      assert.ok(access, 'access log line');
      assert.equal(access.method, 'POST');
      assert.equal(access.path, '/echo');
      assert.equal(access.status, 200);
      assert.equal(typeof access.ms, 'number');
    });
  });

  describe('CORS', () => {
    it('allows a configured origin', async () => {
      const r = await request(srv.url, '/healthz', {
        headers: { origin: 'https://app.example.com' },
      });
      assert.equal(r.headers['access-control-allow-origin'], 'https://app.example.com');
      assert.match(String(r.headers['access-control-expose-headers']), /X-Request-Id/);
    });

    it('answers a preflight for a configured origin', async () => {
      const r = await request(srv.url, '/echo', {
        method: 'OPTIONS',
        headers: {
          origin: 'https://app.example.com',
          'access-control-request-method': 'POST',
          'access-control-request-headers': 'content-type,authorization',
        },
      });
      assert.equal(r.status, 204);
      assert.equal(r.headers['access-control-allow-origin'], 'https://app.example.com');
      assert.match(String(r.headers['access-control-allow-methods']), /POST/);
    });

    it('gives no CORS headers to another origin', async () => {
      const r = await request(srv.url, '/healthz', { headers: { origin: 'https://evil.example' } });
      assert.equal(r.status, 200);
      assert.equal(r.headers['access-control-allow-origin'], undefined);
    });

    it('allows no origin at all when the list is empty', async () => {
      const app = createHttpApp({
        config: loadConfig({ STREAMING_ENV: 'test' }),
        logger: logCapture().logger,
        name: 'nocors',
        readiness: async () => ({}),
      });
      const s = await startHttpServer(finishHttpApp(app), { host: '127.0.0.1', port: 0 });
      try {
        const r = await request(s.url, '/healthz', {
          headers: { origin: 'https://app.example.com' },
        });
        assert.equal(r.headers['access-control-allow-origin'], undefined);
      } finally {
        await s.close();
      }
    });
  });

  it('sets security headers (helmet) and hides the framework', async () => {
    const r = await request(srv.url, '/healthz');
    assert.equal(r.headers['x-content-type-options'], 'nosniff');
    assert.equal(r.headers['x-frame-options'], 'SAMEORIGIN');
    assert.ok(r.headers['content-security-policy']);
    assert.ok(r.headers['strict-transport-security']);
    assert.equal(r.headers['x-powered-by'], undefined);
  });

  describe('bodies', () => {
    it('malformed JSON → 400 MALFORMED_JSON problem', async () => {
      const r = await request(srv.url, '/echo', {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'x-request-id': 'bad-json' },
        body: '{"mobile": ',
      });
      assert.equal(r.status, 400);
      assert.equal(r.json.code, 'MALFORMED_JSON');
      assert.equal(r.json.requestId, 'bad-json');
      assert.match(String(r.json.message), /^The request body is not valid JSON/);
      const quoted = await request(srv.url, '/echo', {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: '{"code": 123456x}',
      });
      assert.equal(quoted.json.code, 'MALFORMED_JSON');
      assert.ok(!quoted.text.includes('123456'), 'the body is not quoted back (nor logged)');
      assert.match(String(r.headers['content-type']), /application\/json/);
    });

    it('a body over the limit → 413 BODY_TOO_LARGE', async () => {
      const r = await request(srv.url, '/echo', {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ mobile: 'x'.repeat(2000) }),
      });
      assert.equal(r.status, 413);
      assert.equal(r.json.code, 'BODY_TOO_LARGE');
      assert.deepEqual(r.json.details, { limitBytes: 1024 });
    });

    it('a body that is not JSON → 415 UNSUPPORTED_MEDIA_TYPE', async () => {
      const cases: Record<string, string>[] = [{ 'content-type': 'text/plain' }, {}];
      for (const headers of cases) {
        const r = await request(srv.url, '/echo', { method: 'POST', headers, body: 'mobile=1' });
        assert.equal(r.status, 415);
        assert.equal(r.json.code, 'UNSUPPORTED_MEDIA_TYPE');
      }
    });

    it('accepts application/*+json and a charset', async () => {
      const r = await request(srv.url, '/echo', {
        method: 'POST',
        headers: { 'content-type': 'application/merge-patch+json; charset=utf-8' },
        body: JSON.stringify({ mobile: '1' }),
      });
      assert.equal(r.status, 200);
    });
  });

  describe('validation', () => {
    it('names the first bad field and lists them all', async () => {
      const r = await request(srv.url, '/echo', {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ count: 0, kind: 'spam' }),
      });
      assert.equal(r.status, 400);
      assert.equal(r.json.code, 'VALIDATION_FAILED');
      assert.equal(r.json.message, 'body.mobile is required.');
      const { errors } = r.json.details as { errors: { path: string; message: string }[] };
      assert.deepEqual(errors, [
        { path: 'body.mobile', message: 'is required' },
        { path: 'body.count', message: 'must be >= 1' },
        { path: 'body.kind', message: 'must be one of: "code", "notice"' },
      ]);
    });

    it('rejects unknown fields when additionalProperties is false', async () => {
      const r = await request(srv.url, '/echo', {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ mobile: '1', extra: true }),
      });
      assert.equal(r.status, 400);
      assert.equal(r.json.message, 'body.extra is not allowed.');
    });

    it('does not coerce body types', async () => {
      const r = await request(srv.url, '/echo', {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ mobile: '1', count: '3' }),
      });
      assert.equal(r.status, 400);
      assert.equal(r.json.message, 'body.count must be integer.');
    });

    it('coerces query strings and applies defaults', async () => {
      assert.deepEqual((await request(srv.url, '/items?limit=7')).json, {
        limit: 7,
        type: 'number',
      });
      assert.deepEqual((await request(srv.url, '/items')).json, { limit: 20, type: 'number' });
      const bad = await request(srv.url, '/items?limit=abc');
      assert.equal(bad.status, 400);
      assert.equal(bad.json.message, 'query.limit must be integer.');
      const unknown = await request(srv.url, '/items?page=2');
      assert.equal(unknown.json.message, 'query.page is not allowed.');
    });
  });

  describe('errors', () => {
    it('unknown route → 404 ROUTE_NOT_FOUND problem', async () => {
      const r = await request(srv.url, '/nope?x=1', { headers: { 'x-request-id': 'r404' } });
      assert.equal(r.status, 404);
      assert.deepEqual(r.json, {
        code: 'ROUTE_NOT_FOUND',
        message: 'No route for GET /nope.',
        requestId: 'r404',
      });
    });

    it('an AppError → its status, code and headers', async () => {
      const r = await request(srv.url, '/throttled');
      assert.equal(r.status, 429);
      assert.equal(r.json.code, 'LOGIN_THROTTLED');
      assert.equal(r.json.message, 'Too many failed logins; retry in 30 s.');
      assert.equal(r.headers['retry-after'], '30');
    });

    it('a plain Error → 500 INTERNAL without internals; logged with its stack', async () => {
      const r = await request(srv.url, '/boom', { headers: { 'x-request-id': 'boom-1' } });
      assert.equal(r.status, 500);
      assert.deepEqual(r.json, {
        code: 'INTERNAL',
        message: 'Internal error.',
        requestId: 'boom-1',
      });
      assert.ok(!r.text.includes('ECONNREFUSED') && !r.text.includes('/srv/'));
      await sleep(20);
      const line = logs.lines.find(
        (l) => l.message === 'request failed' && l.requestId === 'boom-1',
      );
      assert.ok(line, 'a 5xx is logged');
      assert.equal(line.level, 'error');
      assert.match(String((line.err as { stack?: string }).stack), /ECONNREFUSED[\s\S]*at /);
    });

    it('a 4xx is logged at info', async () => {
      await request(srv.url, '/throttled', { headers: { 'x-request-id': 'info-4xx' } });
      await sleep(20);
      const line = logs.lines.find(
        (l) => l.message === 'request rejected' && l.requestId === 'info-4xx',
      );
      assert.equal(line?.level, 'info');
      assert.equal(line?.errorCode, 'LOGIN_THROTTLED');
    });

    it('a malformed %-escape in the path is a 4xx, not a 500', async () => {
      const r = await request(srv.url, '/echo/%E0%A4%A');
      assert.ok(r.status >= 400 && r.status < 500, `got ${r.status}`);
    });
  });

  describe('probes', () => {
    it('/healthz → 200 {status: ok}', async () => {
      const r = await request(srv.url, '/healthz');
      assert.equal(r.status, 200);
      assert.deepEqual(r.json, { status: 'ok' });
    });

    it('/readyz → 200 when every dependency is ok', async () => {
      const r = await request(srv.url, '/readyz');
      assert.equal(r.status, 200);
      assert.deepEqual(r.json, { status: 'ok', checks: { mysql: 'ok', redis: 'ok' } });
    });

    it('/readyz → 503 with each dependency state when one fails', async () => {
      const r = await request(down.url, '/readyz');
      assert.equal(r.status, 503);
      assert.deepEqual(r.json, {
        status: 'unavailable',
        checks: { mysql: 'ok', kafka: 'timeout after 1000 ms' },
      });
    });
  });
});

describe('startHttpServer', () => {
  describe('HTTPS', () => {
    let dir: string;
    let hasOpenssl = true;
    before(() => {
      dir = mkdtempSync(path.join(tmpdir(), 'streaming-tls-'));
      try {
        execFileSync('openssl', ['version'], { stdio: 'ignore' });
      } catch {
        hasOpenssl = false;
        return;
      }
      execFileSync(
        'openssl',
        [
          'req',
          '-x509',
          '-newkey',
          'rsa:2048',
          '-nodes',
          '-subj',
          '/CN=localhost',
          '-addext',
          'subjectAltName=DNS:localhost,IP:127.0.0.1',
          '-days',
          '1',
          '-keyout',
          path.join(dir, 'key.pem'),
          '-out',
          path.join(dir, 'cert.pem'),
        ],
        { stdio: 'ignore' },
      );
    });
    after(() => rmSync(dir, { recursive: true, force: true }));

    it('serves /healthz over HTTPS with the configured cert and key', async (t) => {
      if (!hasOpenssl) return t.skip('openssl is not installed');
      const tls = { certFile: path.join(dir, 'cert.pem'), keyFile: path.join(dir, 'key.pem') };
      const s = await startHttpServer(
        buildApp(async () => ({})),
        { host: '127.0.0.1', port: 0, tls },
      );
      try {
        assert.match(s.url, /^https:\/\/127\.0\.0\.1:\d+$/);
        const r = await request(s.url, '/healthz', { ca: readFileSync(tls.certFile) });
        assert.equal(r.status, 200);
        assert.deepEqual(r.json, { status: 'ok' });
        assert.ok(r.headers['strict-transport-security']);
      } finally {
        await s.close();
      }
    });

    it('says which TLS file it cannot read', async () => {
      await assert.rejects(
        startHttpServer(
          buildApp(async () => ({})),
          {
            host: '127.0.0.1',
            port: 0,
            tls: { certFile: path.join(dir, 'missing.pem'), keyFile: path.join(dir, 'key.pem') },
          },
        ),
        /cannot read the TLS certificate .*missing\.pem/,
      );
    });
  });

  describe('graceful close', () => {
    it('lets an in-flight request finish, refuses new ones, and does not wait for idle keep-alive sockets', async () => {
      const s = await startHttpServer(
        buildApp(async () => ({})),
        { host: '127.0.0.1', port: 0 },
      );
      const agent = new http.Agent({ keepAlive: true });
      await request(s.url, '/healthz', { agent }); // leaves an idle keep-alive socket
      const slow = request(s.url, '/slow?ms=400', { agent: new http.Agent({ keepAlive: true }) });
      await sleep(100);
      const started = Date.now();
      const closed = s.close();
      await assert.rejects(request(s.url, '/healthz'), /ECONNREFUSED/);
      const r = await slow;
      assert.equal(r.status, 200);
      assert.deepEqual(r.json, { slow: true });
      assert.equal(r.headers.connection, 'close');
      await closed;
      // waiting for the idle socket would take the server's 5 s keep-alive timeout
      assert.ok(Date.now() - started < 4_500, 'close did not wait for idle sockets');
      assert.equal(s.server.listening, false);
      await s.close(); // idempotent
      agent.destroy();
    });

    it('cuts requests that outlive the shutdown timeout', async () => {
      const s = await startHttpServer(
        buildApp(async () => ({})),
        {
          host: '127.0.0.1',
          port: 0,
          shutdownTimeoutMs: 150,
        },
      );
      const stuck = request(s.url, '/slow?ms=60000');
      await sleep(50);
      const started = Date.now();
      await s.close();
      // bounded by the shutdown timeout, not by the minute the request would take
      // (a wide margin: a loaded machine is slow, not that slow)
      assert.ok(Date.now() - started < 20_000, `close took ${Date.now() - started} ms`);
      await assert.rejects(stuck, /socket hang up|ECONNRESET/);
    });
  });
});

describe('onShutdown', () => {
  it('on SIGTERM runs every handler once, last registered first, then exits', async () => {
    const serverModule = new URL('./server.ts', import.meta.url).href;
    const script = `
      import { onShutdown, startHttpServer } from ${JSON.stringify(serverModule)};
      const s = await startHttpServer((_req, res) => res.end('ok'), { host: '127.0.0.1', port: 0 });
      onShutdown(async () => { await new Promise((r) => setTimeout(r, 50)); console.log('clients closed'); });
      onShutdown(() => { throw new Error('a failing handler does not stop the others'); });
      onShutdown(async () => { await s.close(); console.log('server closed'); });
      setInterval(() => {}, 1000); // something that would keep the process alive
      console.log('ready');
    `;
    const child = spawn(process.execPath, ['--input-type=module', '-e', script], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    child.stdout.on('data', (c: Buffer) => {
      out += c.toString();
      if (out.includes('ready') && !child.killed) child.kill('SIGTERM');
    });
    const code = await new Promise<number | null>((resolve) => child.on('exit', resolve));
    assert.deepEqual(out.trim().split('\n'), ['ready', 'server closed', 'clients closed']);
    assert.equal(code, 1, 'a failed handler makes the exit code 1');
  });
});
