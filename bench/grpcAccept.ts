// Messages.Send over gRPC next to POST /v1/messages over HTTP, measured the
// same way as bench/accept.ts: one child process serves both APIs on the
// same event store (MySQL, fresh database) and Redis; the load runs here, on
// the same machine, at the same concurrency, to random mobiles with the same
// template and limits; the two loads alternate (HTTP, gRPC, HTTP, gRPC …) so
// that a change of machine load hits both.
//
//   node bench/grpcAccept.ts [--connections 64] [--duration 30] [--rounds 2] [--channels 8]
//
// The set-up (service child, tenant, template, approval) and the HTTP load
// are bench/support.ts's, the very ones bench/accept.ts runs.
// HTTP: autocannon with `connections` keep-alive connections. gRPC:
// `connections` calls in flight at all times over `channels` HTTP/2
// connections of @grpc/grpc-js (each call waits for its answer, as an
// autocannon connection does). Writes bench/results/grpcAccept.json.
import os from 'node:os';
import { fileURLToPath } from 'node:url';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { startCommandService } from '../command-service/index.ts';
import { protoFiles, protoRoot, startGrpcService } from '../grpc-service/index.ts';
import {
  benchTenant,
  httpSendLoad,
  machine,
  numberArg,
  openServiceStores,
  sendBody,
  startServiceChild,
  writeResult,
  type BenchTenant,
} from './support.ts';

async function serve(): Promise<void> {
  const stores = await openServiceStores({ mongo: true });
  const deps = { ...stores, mongo: stores.mongo! };
  const http = await startCommandService(deps, { port: 0 });
  const rpc = await startGrpcService(deps, { port: 0 });
  process.stdout.write(`URL ${http.url} GRPC ${rpc.address}\n`);
  process.on('SIGTERM', () => {
    void Promise.all([http.close(), rpc.close()]).then(async () => {
      await stores.close();
      process.exit(0);
    });
  });
}

interface Figures {
  api: 'http' | 'grpc';
  acceptedPerSecond: number;
  accepted: number;
  refused: number;
  errors: number;
  latencyMs: { p50: number; p90: number; p99: number; max: number };
}

async function httpLoad(
  base: string,
  tenant: BenchTenant,
  connections: number,
  duration: number,
): Promise<Figures> {
  const r = await httpSendLoad(base, tenant, { connections, duration });
  return {
    api: 'http',
    acceptedPerSecond: Math.round(r['2xx'] / r.duration),
    accepted: r['2xx'],
    refused: r.non2xx,
    errors: r.errors + r.timeouts,
    latencyMs: { p50: r.latency.p50, p90: r.latency.p90, p99: r.latency.p99, max: r.latency.max },
  };
}

type SendFn = (
  req: Record<string, unknown>,
  md: grpc.Metadata,
  cb: (err: grpc.ServiceError | null) => void,
) => void;

async function grpcLoad(
  address: string,
  tenant: BenchTenant,
  connections: number,
  duration: number,
  channels: number,
): Promise<Figures> {
  const definition = protoLoader.loadSync(protoFiles, {
    keepCase: false,
    longs: Number,
    enums: String,
    defaults: false,
    includeDirs: [protoRoot],
  });
  const { Messages } = (
    grpc.loadPackageDefinition(definition) as unknown as {
      streaming: { v1: { Messages: grpc.ServiceClientConstructor } };
    }
  ).streaming.v1;
  // separate subchannel pools: `channels` HTTP/2 connections, not one shared
  const clients = Array.from(
    { length: channels },
    () =>
      new Messages(address, grpc.credentials.createInsecure(), {
        'grpc.use_local_subchannel_pool': 1,
      }),
  );
  await Promise.all(
    clients.map(
      (c) =>
        new Promise<void>((resolve, reject) =>
          c.waitForReady(Date.now() + 10_000, (e) => (e ? reject(e) : resolve())),
        ),
    ),
  );
  const md = new grpc.Metadata();
  md.set('authorization', `Bearer ${tenant.token}`);
  const latencies: number[] = [];
  let accepted = 0;
  let refused = 0;
  let errors = 0;
  const started = performance.now();
  const end = started + duration * 1000;
  const worker = async (i: number) => {
    const client = clients[i % channels] as unknown as { Send: SendFn };
    while (performance.now() < end) {
      const t0 = performance.now();
      const err = await new Promise<grpc.ServiceError | null>((resolve) =>
        client.Send.call(client, sendBody(tenant.templateCode), md, resolve),
      );
      latencies.push(performance.now() - t0);
      if (!err) accepted += 1;
      else if (err.code === grpc.status.UNAVAILABLE || err.code === grpc.status.INTERNAL)
        errors += 1;
      else refused += 1;
    }
  };
  await Promise.all(Array.from({ length: connections }, (_, i) => worker(i)));
  const seconds = (performance.now() - started) / 1000;
  for (const c of clients) c.close();
  latencies.sort((a, b) => a - b);
  const at = (q: number) =>
    Math.round(latencies[Math.min(latencies.length - 1, Math.floor(q * latencies.length))]!);
  return {
    api: 'grpc',
    acceptedPerSecond: Math.round(accepted / seconds),
    accepted,
    refused,
    errors,
    latencyMs: { p50: at(0.5), p90: at(0.9), p99: at(0.99), max: Math.round(latencies.at(-1)!) },
  };
}

async function main(): Promise<void> {
  const connections = numberArg('connections', 64);
  const duration = numberArg('duration', 30);
  const rounds = numberArg('rounds', 2);
  const channels = numberArg('channels', 8);
  const service = await startServiceChild(fileURLToPath(import.meta.url), {
    name: 'benchgrpc',
    ready: /URL (\S+) GRPC (\S+)/,
  });
  const [url, address] = service.ready as [string, string];
  try {
    // the same tenant and template as bench/accept.ts (every kind of limit reserved per send)
    const tenant = await benchTenant(url, service.approve);
    const loadBefore = os.loadavg();
    const runs: Figures[] = [];
    for (let round = 0; round < rounds; round += 1) {
      runs.push(await httpLoad(url, tenant, connections, duration));
      console.log(JSON.stringify(runs.at(-1)));
      runs.push(await grpcLoad(address, tenant, connections, duration, channels));
      console.log(JSON.stringify(runs.at(-1)));
    }
    writeResult('grpcAccept', {
      command: `node bench/grpcAccept.ts --connections ${connections} --duration ${duration} --rounds ${rounds} --channels ${channels}`,
      at: new Date().toISOString(),
      machine: machine(loadBefore, os.loadavg()),
      loadGenerator:
        'autocannon (HTTP) and @grpc/grpc-js clients (gRPC) in the bench process, same cores; both APIs in one child process',
      connections,
      channels,
      durationSeconds: duration,
      runs,
    });
  } finally {
    await service.cleanup();
  }
}

if (process.argv.includes('--serve')) await serve();
else await main();
