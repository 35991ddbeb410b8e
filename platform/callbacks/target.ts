// Where a callback may go (SSRF). In production a callback URL must resolve
// only to public addresses: not loopback, private, link-local (cloud
// metadata), carrier-grade NAT, multicast or reserved ranges. It is checked
// when the endpoint is registered and again at every delivery, after DNS
// resolution; the delivery then connects to exactly the address checked
// (the guarded lookup below), so a name that re-resolves to 127.0.0.1
// between the check and the call ("DNS rebinding") gets nowhere.
// Development and tests allow private addresses so that a local receiver works.
import { lookup as dnsLookup, type LookupAddress } from 'node:dns';
import { lookup as lookupAll } from 'node:dns/promises';
import http from 'node:http';
import https from 'node:https';
import { BlockList, isIP, type LookupFunction } from 'node:net';

const blocked = new BlockList();
for (const [net, prefix] of [
  ['0.0.0.0', 8],
  ['10.0.0.0', 8],
  ['100.64.0.0', 10],
  ['127.0.0.0', 8],
  ['169.254.0.0', 16],
  ['172.16.0.0', 12],
  ['192.0.0.0', 24],
  ['192.0.2.0', 24],
  ['192.88.99.0', 24],
  ['192.168.0.0', 16],
  ['198.18.0.0', 15],
  ['198.51.100.0', 24],
  ['203.0.113.0', 24],
  ['224.0.0.0', 4],
  ['240.0.0.0', 4],
] as const)
  blocked.addSubnet(net, prefix, 'ipv4');
for (const [net, prefix] of [
  ['::', 128],
  ['::1', 128],
  ['64:ff9b::', 96],
  ['100::', 64],
  ['2001:db8::', 32],
  ['fc00::', 7],
  ['fe80::', 10],
  ['ff00::', 8],
] as const)
  blocked.addSubnet(net, prefix, 'ipv6');

/** True for an address a production callback may connect to. */
export function isPublicAddress(address: string): boolean {
  const family = isIP(address);
  if (family === 0) return false;
  if (family === 6) {
    const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address);
    if (mapped) return isPublicAddress(mapped[1]!);
    return !blocked.check(address, 'ipv6');
  }
  return !blocked.check(address, 'ipv4');
}

export class CallbackTargetError extends Error {
  readonly reason: 'PRIVATE_ADDRESS' | 'UNRESOLVABLE';
  constructor(reason: 'PRIVATE_ADDRESS' | 'UNRESOLVABLE', message: string) {
    super(message);
    this.name = 'CallbackTargetError';
    this.reason = reason;
  }
}

const hostOf = (url: URL) => url.hostname.replace(/^\[(.*)\]$/, '$1');

/**
 * Resolves the URL's host and refuses it when any address it resolves to is
 * not public (unless private ones are allowed). Returns the addresses.
 */
export async function checkCallbackTarget(
  rawUrl: string,
  options: { allowPrivate: boolean },
): Promise<string[]> {
  const host = hostOf(new URL(rawUrl));
  let addresses: string[];
  if (isIP(host)) addresses = [host];
  else {
    try {
      addresses = (await lookupAll(host, { all: true, verbatim: true })).map((a) => a.address);
    } catch (err) {
      throw new CallbackTargetError(
        'UNRESOLVABLE',
        `${host} does not resolve (${(err as NodeJS.ErrnoException).code ?? String(err)}).`,
      );
    }
  }
  if (!options.allowPrivate) {
    const bad = addresses.filter((a) => !isPublicAddress(a));
    if (bad.length > 0) {
      throw new CallbackTargetError(
        'PRIVATE_ADDRESS',
        `${host} resolves to ${bad.join(', ')}, which is not a public address.`,
      );
    }
  }
  return addresses;
}

/** A dns.lookup for http.request that refuses non-public answers. */
function guardedLookup(allowPrivate: boolean): LookupFunction {
  return (hostname, options, callback) => {
    dnsLookup(hostname, { ...options, all: true }, (err, list: LookupAddress[]) => {
      if (err) return callback(err, '', 4);
      const ok = allowPrivate ? list : list.filter((a) => isPublicAddress(a.address));
      if (ok.length === 0 || ok.length < list.length) {
        const e = new CallbackTargetError(
          'PRIVATE_ADDRESS',
          `${hostname} resolves to ${list.map((a) => a.address).join(', ')}, which is not a public address.`,
        );
        return callback(e as NodeJS.ErrnoException, '', 4);
      }
      if ((options as { all?: boolean }).all) {
        return callback(null, ok);
      }
      callback(null, ok[0]!.address, ok[0]!.family);
    });
  };
}

export interface PostResult {
  /** HTTP status, or undefined when no answer came (refused, timed out, reset). */
  status: number | undefined;
  /** What went wrong, for the tenant (first 200 characters of a failing answer, or the error). */
  error: string | undefined;
  ms: number;
}

/**
 * POSTs one callback: no redirects followed, the whole call (connect, send,
 * answer) bounded by `timeoutMs`, the answer's body read and dropped (at most
 * 64 KiB kept for the error text). Never throws.
 */
export async function postCallback(
  rawUrl: string,
  body: string,
  headers: Record<string, string>,
  options: { timeoutMs: number; allowPrivate: boolean; agent?: http.Agent },
): Promise<PostResult> {
  const started = performance.now();
  const done = (status: number | undefined, error: string | undefined): PostResult => ({
    status,
    error,
    ms: performance.now() - started,
  });
  let url: URL;
  try {
    url = new URL(rawUrl);
  } catch {
    return done(undefined, 'the URL is not valid');
  }
  const host = hostOf(url);
  if (isIP(host) && !options.allowPrivate && !isPublicAddress(host)) {
    return done(undefined, `${host} is not a public address`);
  }
  const lib = url.protocol === 'https:' ? https : http;
  return new Promise<PostResult>((resolve) => {
    let settled = false;
    const finish = (status: number | undefined, error: string | undefined) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      resolve(done(status, error));
    };
    const req = lib.request(
      url,
      {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          'content-length': String(Buffer.byteLength(body)),
          'user-agent': 'streaming-callbacks/1',
          ...headers,
        },
        lookup: guardedLookup(options.allowPrivate),
        ...(options.agent ? { agent: options.agent } : {}),
      },
      (res) => {
        const chunks: Buffer[] = [];
        let size = 0;
        res.on('data', (c: Buffer) => {
          if (size < 65_536) chunks.push(c);
          size += c.length;
        });
        res.on('error', (err) => finish(res.statusCode, err.message));
        res.on('end', () => {
          const status = res.statusCode ?? 0;
          if (status >= 200 && status < 300) return finish(status, undefined);
          const text = Buffer.concat(chunks).toString('utf8').replace(/\s+/g, ' ').trim();
          finish(status, `HTTP ${status}${text ? `: ${text.slice(0, 200)}` : ''}`);
        });
      },
    );
    const timer = setTimeout(() => {
      finish(undefined, `no answer within ${options.timeoutMs} ms`);
      req.destroy();
    }, options.timeoutMs);
    req.on('error', (err) => finish(undefined, err.message));
    req.end(body);
  });
}
