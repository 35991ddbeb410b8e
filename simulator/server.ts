// Upstream supplier simulator: speaks Aliyun's and Tencent's real wire
// formats on loopback, misbehaves on request, and pushes receipts back.
//   /          both vendors' APIs, at the path their own hosts serve them on,
//              told apart by how the request is signed:
//                Tencent Cloud SMS 2021-01-11 (POST JSON, TC3-HMAC-SHA256 header)
//                Aliyun dysmsapi 2017-05-25 RPC (Signature in the query or form)
//   /tencent/  Tencent as well (its signature covers the path, so any base path works;
//              the signed host is the Host header without its port, see tencentApi.ts)
//   /admin/*   JSON admin API (see admin.ts)
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import express, { type NextFunction, type Request, type Response } from 'express';
import { adminRouter, applyAccountSpec, type AccountSpec } from './admin.ts';
import { aliyunHandler } from './aliyunApi.ts';
import { SimContext } from './context.ts';
import type { SimulatorState } from './state.ts';
import { tencentHandler } from './tencentApi.ts';

export type { AccountSpec } from './admin.ts';
export type { Behaviour, SimulatorState } from './state.ts';

export interface SimulatorOptions {
  /** 0 picks a free port. */
  port: number;
  host?: string;
  accounts?: AccountSpec[];
  /** The file that keeps the signatures and templates across restarts (none: in memory). */
  catalogFile?: string;
}

export interface Simulator {
  url: string;
  port: number;
  state: SimulatorState;
  /** Resolves when no receipt or inbound push is queued or in flight. */
  idle(): Promise<void>;
  close(): Promise<void>;
}

export function createSimulatorApp(ctx: SimContext): express.Express {
  const app = express();
  app.disable('x-powered-by');
  app.set('etag', false);
  const aliyunApi = aliyunHandler(ctx);
  const aliyun = express.Router();
  aliyun.use(express.urlencoded({ extended: false, limit: '1mb', type: () => true }));
  aliyun.use((req, res) => aliyunApi(req, res));
  const tencentApi = tencentHandler(ctx);
  const tencent = express.Router();
  tencent.use(express.raw({ type: () => true, limit: '1mb' }));
  tencent.use((req, res) => tencentApi(req, res));
  app.all('/', (req, res, next) => {
    const tc3 =
      req.headers['x-tc-action'] !== undefined ||
      String(req.headers.authorization ?? '').startsWith('TC3-');
    (tc3 ? tencent : aliyun)(req, res, next);
  });
  app.all(['/tencent', '/tencent/'], tencent);
  app.use('/admin', express.json({ limit: '1mb' }), adminRouter(ctx));
  app.use((_req: Request, res: Response) => {
    res.status(404).json({ error: 'not found' });
  });
  app.use((err: unknown, _req: Request, res: Response, _next: NextFunction) => {
    const status =
      err !== null && typeof err === 'object' && 'status' in err && typeof err.status === 'number'
        ? err.status
        : 500;
    res.status(status).json({ error: status === 500 ? 'internal error' : 'bad request' });
  });
  return app;
}

export async function startSimulator(options: SimulatorOptions): Promise<Simulator> {
  const host = options.host ?? '127.0.0.1';
  const ctx = new SimContext(options.catalogFile);
  for (const spec of options.accounts ?? []) applyAccountSpec(ctx, spec.id, spec);
  const app = createSimulatorApp(ctx);
  const server: Server = await new Promise((resolve, reject) => {
    // a deep accept queue: a burst of fresh connections must not overflow
    // the default backlog (511), whose dropped SYNs cost a 1 s retransmit
    const s = createServer(app);
    s.once('error', reject);
    s.listen({ port: options.port, host, backlog: 4096 }, () => resolve(s));
  });
  const { port } = server.address() as AddressInfo;
  const url = `http://${host.includes(':') ? `[${host}]` : host}:${port}`;
  return {
    url,
    port,
    state: ctx.state,
    idle: () => ctx.pusher.idle(),
    close: () =>
      new Promise<void>((resolve) => {
        ctx.close();
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
