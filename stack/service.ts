import type { StackConfig } from './config.ts';
import type { Print, Started } from './proc.ts';

export type ServiceName = 'mariadb' | 'redis' | 'kafka' | 'ferretdb';

export interface Ctx {
  cfg: StackConfig;
  /** Prints one progress line, prefixed with the service name. */
  say: Print;
  /** Resolves once the single shared apt-get run (if any) has finished. */
  apt: () => Promise<void>;
}

/** What `up` needs before it can prepare a service. */
export interface Needs {
  /** Debian packages to install with apt-get (one shared call for all services). */
  debs: string[];
  /** Missing tools we do not install ourselves: one line each, "what is missing: how to get it". */
  missing: string[];
}

export interface Service {
  name: ServiceName;
  port: number;
  /** Substring of the process command line that identifies our process (guards against pid reuse). */
  marker: string;
  pidFile: string;
  /** Where the process logs; its tail is printed when it fails. */
  logFile: string;
  /** The process's stdout/stderr file when it differs from logFile (its tail is printed too). */
  outFile?: string;
  /** e.g. "(database streaming, user streaming)". */
  describe(): string;
  /** Resolves when a real client request succeeds; throws otherwise. */
  probe(timeoutMs: number): Promise<void>;
  /** Cheaper/earlier readiness check used right after start (defaults to probe). */
  readyProbe?(timeoutMs: number): Promise<void>;
  /** Readiness deadline after start. */
  readyTimeoutMs: number;
  needs(): Promise<Needs>;
  /** Install / download / build / initialise (idempotent). */
  prepare(ctx: Ctx): Promise<void>;
  start(ctx: Ctx): Promise<Started>;
  /** After our process answers (or an external one was found): bootstrap users etc. */
  afterReady?(ctx: Ctx, external: boolean): Promise<void>;
}
