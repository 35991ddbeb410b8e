// The gRPC API over TLS, as a deployment configures it for HTTPS: with
// STREAMING_TLS_CERT_FILE and STREAMING_TLS_KEY_FILE set, `streaming serve
// command grpc` serves the command API over HTTPS and gRPC over TLS with the
// same certificate. A client that trusts the certificate gets answers (health,
// an RPC with a token registered over HTTPS); a plaintext client, or one that
// does not trust the certificate, is refused and gets no answer.
import assert from 'node:assert/strict';
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import https from 'node:https';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import * as grpc from '@grpc/grpc-js';
import { MongoClient } from 'mongodb';
import { dropReadModelDatabases } from '../../platform/readModels/index.ts';
import { freshDatabase, type TestDatabase } from '../../testing/mysql.ts';
import { eventually } from '../support/system.ts';
import { connect, type StreamingClients } from './client.ts';

const main = fileURLToPath(new URL('../../cli/main.ts', import.meta.url));
// ports nobody else's test uses (grep tests/ for 186)
const COMMAND_PORT = 18610;
const GRPC_PORT = 18612;
const METRICS_PORT = 18630;

/** A self-signed certificate for localhost and 127.0.0.1 (openssl is part of the image). */
function selfSigned(dir: string): { cert: string; key: string } {
  const cert = path.join(dir, 'cert.pem');
  const key = path.join(dir, 'key.pem');
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
      key,
      '-out',
      cert,
    ],
    { stdio: 'ignore' },
  );
  return { cert, key };
}

function httpsCall(
  url: string,
  body: unknown,
  ca: Buffer,
): Promise<{ status: number; json: Record<string, unknown> }> {
  return new Promise((resolve, reject) => {
    const req = https.request(
      url,
      { method: 'POST', ca, headers: { 'content-type': 'application/json' } },
      (res) => {
        let text = '';
        res.on('data', (c: Buffer) => (text += c.toString()));
        res.on('end', () =>
          resolve({
            status: res.statusCode ?? 0,
            json: text ? (JSON.parse(text) as Record<string, unknown>) : {},
          }),
        );
      },
    );
    req.on('error', reject);
    req.end(JSON.stringify(body));
  });
}

/** grpc.health.v1 Check of the whole server, over the given credentials. */
function healthCheck(
  address: string,
  creds: grpc.ChannelCredentials,
): Promise<{ ok: true; status: number } | { ok: false; code: number; details: string }> {
  const client = new grpc.Client(address, creds);
  return new Promise((resolve) => {
    client.makeUnaryRequest(
      '/grpc.health.v1.Health/Check',
      () => Buffer.alloc(0), // HealthCheckRequest { service: "" }: no bytes
      (b: Buffer) => b,
      {},
      new grpc.Metadata(),
      { deadline: Date.now() + 5_000 },
      (err, value) => {
        client.close();
        // HealthCheckResponse { status = 1 }: field 1 varint → 0x08 <status>
        resolve(
          err
            ? { ok: false, code: err.code, details: err.details }
            : { ok: true, status: value![1]! },
        );
      },
    );
  });
}

describe('gRPC over TLS when certificates are configured', () => {
  let dir: string;
  let db: TestDatabase;
  let child: ChildProcess;
  let output = '';
  let ca: Buffer;
  const mongoDbName = `streaming_t_grpctls_${randomBytes(4).toString('hex')}`;

  before(async () => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'streaming-grpc-tls-'));
    const { cert, key } = selfSigned(dir);
    ca = readFileSync(cert);
    db = await freshDatabase('grpctls');
    child = spawn(process.execPath, [main, 'serve', 'command', 'grpc'], {
      env: {
        ...process.env,
        STREAMING_MYSQL_URL: db.url,
        // db 15: startSystem takes 7–14, the int suites 0–4
        STREAMING_REDIS_URL: 'redis://127.0.0.1:6379/15',
        STREAMING_REGISTER_MAX_PER_IP: '100000',
        STREAMING_MONGO_URL: `mongodb://127.0.0.1:27017/${mongoDbName}`,
        STREAMING_COMMAND_PORT: String(COMMAND_PORT),
        STREAMING_GRPC_PORT: String(GRPC_PORT),
        STREAMING_METRICS_PORT: String(METRICS_PORT),
        STREAMING_TLS_CERT_FILE: cert,
        STREAMING_TLS_KEY_FILE: key,
        STREAMING_LOG_LEVEL: 'info',
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    child.stdout!.on('data', (c: Buffer) => (output += c.toString()));
    child.stderr!.on('data', (c: Buffer) => (output += c.toString()));
    await eventually(
      'the gRPC API to listen with TLS',
      async () => (/gRPC API on \S+ \(TLS\)/.test(output) ? true : undefined),
      60_000,
    ).catch((err: Error) => {
      throw new Error(`${err.message}\n${output.slice(-3000)}`, { cause: err });
    });
  });

  after(async () => {
    if (child && child.exitCode === null && child.signalCode === null) {
      child.kill('SIGTERM');
      const t = setTimeout(() => child.kill('SIGKILL'), 20_000);
      await once(child, 'exit');
      clearTimeout(t);
    }
    const mongo = new MongoClient(`mongodb://127.0.0.1:27017/${mongoDbName}`);
    await dropReadModelDatabases(mongo.db(mongoDbName)).catch(() => undefined);
    await mongo.close();
    await db?.drop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('answers a client that trusts the certificate: health, and an RPC with a token', async () => {
    const address = `localhost:${GRPC_PORT}`;
    const health = await healthCheck(address, grpc.credentials.createSsl(ca));
    assert.deepEqual(health, { ok: true, status: 1 }, 'grpc.health.v1 SERVING over TLS');

    // a tenant registered over HTTPS (same certificate), then gRPC with its token
    const username = `tls${randomBytes(3).toString('hex')}`;
    const password = 'correct horse battery';
    const base = `https://localhost:${COMMAND_PORT}`;
    const reg = await httpsCall(`${base}/v1/users`, { username, password }, ca);
    assert.equal(reg.status, 201, JSON.stringify(reg.json));
    const login = await httpsCall(`${base}/v1/sessions`, { username, password }, ca);
    assert.equal(login.status, 200, JSON.stringify(login.json));
    const token = String(login.json.token);

    let g: StreamingClients | undefined;
    try {
      g = await connect(address, grpc.credentials.createSsl(ca));
      const created = await g.call(
        'templates',
        'Create',
        {
          name: 'tls',
          kind: 'TEMPLATE_KIND_NOTIFICATION',
          signature: 'Tls',
          content: 'Hello ${name} over TLS',
        },
        { token },
      );
      assert.ok(created.ok, JSON.stringify(created));
      assert.match(String(created.value.templateCode), /^T/);
      // and the API's own refusals arrive over TLS as they do in plaintext
      const refused = await g.call('messages', 'Send', { mobile: '+8613900001234' }, { token });
      assert.ok(
        !refused.ok && refused.error.codeName === 'INVALID_ARGUMENT',
        JSON.stringify(refused),
      );
      const anonymous = await g.call('templates', 'List', {});
      assert.ok(
        !anonymous.ok && anonymous.error.codeName === 'UNAUTHENTICATED',
        JSON.stringify(anonymous),
      );
    } finally {
      g?.close();
    }
  });

  it('refuses a plaintext client, and a client that does not trust the certificate', async () => {
    const address = `localhost:${GRPC_PORT}`;
    const plaintext = await healthCheck(address, grpc.credentials.createInsecure());
    assert.ok(!plaintext.ok, 'a plaintext client gets no answer from the TLS port');
    assert.equal(plaintext.code, grpc.status.UNAVAILABLE, JSON.stringify(plaintext));

    const untrusted = await healthCheck(address, grpc.credentials.createSsl());
    assert.ok(!untrusted.ok, 'a client that does not trust the certificate gets no answer');
    assert.equal(untrusted.code, grpc.status.UNAVAILABLE, JSON.stringify(untrusted));

    // and the service itself is unharmed by them
    const again = await healthCheck(address, grpc.credentials.createSsl(ca));
    assert.deepEqual(again, { ok: true, status: 1 });
  });
});
