// Wakes for the MySQL event store's subscriptions in other processes.
//
// A subscription that has caught up has to learn that another process
// appended. Polling MySQL for it costs every process a query a few times a
// second, forever, while the system is idle. Instead an appender, after its
// commit, publishes "committed up to P" on a Redis channel (leading edge at
// once, then at most one PUBLISH per coalesceMs (100 ms) per process, so a busy
// appender costs a fraction of a command per event), and every process keeps
// one subscriber connection that wakes its subscriptions to read. A wake is
// only a hint: subscriptions still poll, slowly (fallback), so a lost wake
// delays delivery by at most that much; while the subscriber connection is
// down (`live` false) they poll as often as without wakes. Redis being down
// never stops a subscription or fails an append.
import { randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';

export interface AppendWakes {
  /** This process committed events up to `position`: tell the other processes (coalesced). */
  committed(position: number): void;
  /**
   * Calls `listener` when another process committed (with its position), and
   * with Infinity when the connection came back after an outage (something
   * may have been missed). Returns the unsubscribe.
   */
  onWake(listener: (position: number) => void): () => void;
  /** True while wakes can arrive: subscribers may then poll only as a fallback. */
  readonly live: boolean;
  close(): Promise<void>;
}

export interface RedisWakesOptions {
  /** The Redis server (its database number does not matter: channels are server-wide). */
  url: string;
  /** One per event store: e.g. the Redis prefix and the MySQL database. */
  channel: string;
  /** Least time between two PUBLISHes of this process (default 100 ms; busy subscribers poll meanwhile). */
  coalesceMs?: number;
}

/** The channel of a MySQL event store: the system's Redis prefix and its database. */
export function wakeChannel(prefix: string, mysqlUrl: string): string {
  const database = decodeURIComponent(new URL(mysqlUrl).pathname.replace(/^\//, '')) || '-';
  return `${prefix}es:committed:${database}`;
}

const connectionOptions = {
  lazyConnect: true,
  // a wake is never worth waiting for: not queued while disconnected, not retried
  enableOfflineQueue: false,
  maxRetriesPerRequest: 0,
  retryStrategy: (times: number) => Math.min(200 * times, 2_000),
} as const;

export function redisAppendWakes(options: RedisWakesOptions): AppendWakes {
  const id = randomUUID();
  const coalesceMs = options.coalesceMs ?? 100;
  const listeners = new Set<(position: number) => void>();
  let publisher: Redis | undefined;
  let subscriber: Redis | undefined;
  let subscribed = false;
  let wasDown = false;
  let closed = false;

  // ---- the appender's side: leading edge, then one PUBLISH per window
  let lastSent = 0;
  let highest = 0;
  let sentUpTo = 0;
  let timer: NodeJS.Timeout | undefined;
  const send = () => {
    timer = undefined;
    if (closed || highest <= sentUpTo) return;
    if (!publisher) {
      publisher = new Redis(options.url, connectionOptions);
      publisher.on('error', () => undefined); // down: the subscribers' fallback poll covers it
      publisher.on('ready', send); // what was committed while it connected
      publisher.connect().catch(() => undefined);
    }
    if (publisher.status !== 'ready') return;
    lastSent = Date.now();
    sentUpTo = highest;
    publisher.publish(options.channel, `${id} ${highest}`).catch(() => undefined);
  };

  // ---- the subscribers' side: one connection, opened by the first listener
  const wakeAll = (position: number) => {
    for (const listener of listeners) listener(position);
  };
  const subscribe = () => {
    const sub = new Redis(options.url, connectionOptions);
    subscriber = sub;
    sub.on('error', () => undefined);
    sub.on('message', (_channel: string, message: string) => {
      const [from, at] = message.split(' ');
      if (from === id) return; // our own commits woke our subscriptions already
      const position = Number(at);
      if (Number.isFinite(position)) wakeAll(position);
    });
    sub.on('close', () => {
      if (!subscribed) return;
      wasDown = true;
      subscribed = false;
      // the subscriptions sleep for the fallback interval: make them look now and poll as before
      if (!closed) wakeAll(Infinity);
    });
    let everSubscribed = false;
    sub.on('ready', () => {
      if (closed) return;
      if (!everSubscribed) {
        // the first time (also when Redis was down at the start)
        sub
          .subscribe(options.channel)
          .then(() => {
            everSubscribed = true;
            subscribed = sub.status === 'ready';
          })
          .catch(() => undefined); // the connection dropped: the next 'ready' tries again
        return;
      }
      // ioredis subscribes again by itself after a reconnect; then read what the outage hid
      subscribed = true;
      if (wasDown) {
        wasDown = false;
        wakeAll(Infinity);
      }
    });
    sub.connect().catch(() => undefined); // not there now: retryStrategy keeps trying
  };

  return {
    committed(position: number): void {
      if (closed) return;
      highest = Math.max(highest, position);
      if (timer) return;
      const wait = lastSent + coalesceMs - Date.now();
      if (wait <= 0) send();
      else {
        timer = setTimeout(send, wait);
        timer.unref();
      }
    },
    onWake(listener) {
      listeners.add(listener);
      if (!subscriber && !closed) subscribe();
      return () => listeners.delete(listener);
    },
    get live() {
      return subscribed && subscriber?.status === 'ready';
    },
    async close(): Promise<void> {
      closed = true;
      if (timer) clearTimeout(timer);
      listeners.clear();
      subscribed = false;
      for (const connection of [publisher, subscriber]) connection?.disconnect();
      publisher = undefined;
      subscriber = undefined;
    },
  };
}
