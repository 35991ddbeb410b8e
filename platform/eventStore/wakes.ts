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

/** One process's wakes: its coalescing publisher and its one subscriber connection. */
class RedisAppendWakes implements AppendWakes {
  private readonly id = randomUUID();
  private readonly options: RedisWakesOptions;
  private readonly coalesceMs: number;
  private readonly listeners = new Set<(position: number) => void>();
  private publisher: Redis | undefined;
  private subscriber: Redis | undefined;
  private subscribed = false;
  private wasDown = false;
  private closed = false;
  // the appender's side: leading edge, then one PUBLISH per window
  private lastSent = 0;
  private highest = 0;
  private sentUpTo = 0;
  private timer: NodeJS.Timeout | undefined;

  constructor(options: RedisWakesOptions) {
    this.options = options;
    this.coalesceMs = options.coalesceMs ?? 100;
  }

  private readonly send = (): void => {
    this.timer = undefined;
    if (this.closed || this.highest <= this.sentUpTo) return;
    if (!this.publisher) {
      this.publisher = new Redis(this.options.url, connectionOptions);
      this.publisher.on('error', () => undefined); // down: the subscribers' fallback poll covers it
      this.publisher.on('ready', this.send); // what was committed while it connected
      this.publisher.connect().catch(() => undefined);
    }
    if (this.publisher.status !== 'ready') return;
    this.lastSent = Date.now();
    this.sentUpTo = this.highest;
    this.publisher
      .publish(this.options.channel, `${this.id} ${this.highest}`)
      .catch(() => undefined);
  };

  // the subscribers' side: one connection, opened by the first listener
  private wakeAll(position: number): void {
    for (const listener of this.listeners) listener(position);
  }

  private onMessage(message: string): void {
    const [from, at] = message.split(' ');
    if (from === this.id) return; // our own commits woke our subscriptions already
    const position = Number(at);
    if (Number.isFinite(position)) this.wakeAll(position);
  }

  private onClose(): void {
    if (!this.subscribed) return;
    this.wasDown = true;
    this.subscribed = false;
    // the subscriptions sleep for the fallback interval: make them look now and poll as before
    if (!this.closed) this.wakeAll(Infinity);
  }

  private subscribe(): void {
    const sub = new Redis(this.options.url, connectionOptions);
    this.subscriber = sub;
    sub.on('error', () => undefined);
    sub.on('message', (_channel: string, message: string) => this.onMessage(message));
    sub.on('close', () => this.onClose());
    let everSubscribed = false;
    sub.on('ready', () => {
      if (this.closed) return;
      if (!everSubscribed) {
        // the first time (also when Redis was down at the start)
        sub
          .subscribe(this.options.channel)
          .then(() => {
            everSubscribed = true;
            this.subscribed = sub.status === 'ready';
          })
          .catch(() => undefined); // the connection dropped: the next 'ready' tries again
        return;
      }
      // ioredis subscribes again by itself after a reconnect; then read what the outage hid
      this.subscribed = true;
      if (this.wasDown) {
        this.wasDown = false;
        this.wakeAll(Infinity);
      }
    });
    sub.connect().catch(() => undefined); // not there now: retryStrategy keeps trying
  }

  committed(position: number): void {
    if (this.closed) return;
    this.highest = Math.max(this.highest, position);
    if (this.timer) return;
    const wait = this.lastSent + this.coalesceMs - Date.now();
    if (wait <= 0) this.send();
    else {
      this.timer = setTimeout(this.send, wait);
      this.timer.unref();
    }
  }

  onWake(listener: (position: number) => void): () => void {
    this.listeners.add(listener);
    if (!this.subscriber && !this.closed) this.subscribe();
    return () => this.listeners.delete(listener);
  }

  get live(): boolean {
    return this.subscribed && this.subscriber?.status === 'ready';
  }

  async close(): Promise<void> {
    this.closed = true;
    if (this.timer) clearTimeout(this.timer);
    this.listeners.clear();
    this.subscribed = false;
    for (const connection of [this.publisher, this.subscriber]) connection?.disconnect();
    this.publisher = undefined;
    this.subscriber = undefined;
  }
}

export function redisAppendWakes(options: RedisWakesOptions): AppendWakes {
  return new RedisAppendWakes(options);
}
