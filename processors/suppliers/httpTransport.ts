// One HTTP exchange with a vendor, telling apart "nothing left this process"
// from "the request was written and then something went wrong". The
// difference decides between a safe retry (transient) and a reconcile
// (unknown), so we use node:http and its 'finish' event rather than fetch.
import http from 'node:http';
import https from 'node:https';

export interface HttpResponse {
  status: number;
  body: string;
}

export interface HttpRequest {
  url: URL;
  method: 'GET' | 'POST';
  headers: Record<string, string>;
  body: string;
  timeoutMs: number;
}

/** A failed exchange. `sent` is true once the whole request was handed to the socket. */
export class TransportError extends Error {
  readonly sent: boolean;
  readonly code: string;
  constructor(code: string, message: string, sent: boolean) {
    super(message);
    this.name = 'TransportError';
    this.code = code;
    this.sent = sent;
  }
}

const MAX_BODY = 4 * 1024 * 1024;

export function httpRequest(req: HttpRequest): Promise<HttpResponse> {
  return new Promise<HttpResponse>((resolve, reject) => {
    const mod = req.url.protocol === 'https:' ? https : http;
    const payload = Buffer.from(req.body, 'utf8');
    let sent = false;
    let settled = false;
    const fail = (code: string, message: string): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      reject(new TransportError(code, message, sent));
    };
    const outgoing = mod.request(req.url, {
      method: req.method,
      // A fresh connection per call: a reused keep-alive socket that the
      // server already closed would turn a harmless failure into "unknown".
      agent: false,
      headers: { ...req.headers, 'content-length': String(payload.length) },
    });
    const timer = setTimeout(() => {
      fail('TIMEOUT', `no answer within ${req.timeoutMs} ms`);
      outgoing.destroy();
    }, req.timeoutMs);
    outgoing.on('finish', () => {
      sent = true;
    });
    outgoing.on('error', (err: NodeJS.ErrnoException) => {
      fail(err.code ?? 'NETWORK_ERROR', err.code ? `network error ${err.code}` : 'network error');
    });
    outgoing.on('response', (res) => {
      // A response implies the server read the request.
      sent = true;
      const chunks: Buffer[] = [];
      let size = 0;
      res.on('data', (chunk: Buffer) => {
        size += chunk.length;
        if (size > MAX_BODY) {
          fail('RESPONSE_TOO_LARGE', 'response body too large');
          outgoing.destroy();
          return;
        }
        chunks.push(chunk);
      });
      res.on('error', () => fail('RESPONSE_ERROR', 'response interrupted'));
      res.on('aborted', () => fail('RESPONSE_ABORTED', 'response interrupted'));
      res.on('end', () => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') });
      });
    });
    outgoing.end(payload);
  });
}
