import path from 'node:path';
import { StackError } from './proc.ts';

/** Where the local services listen and keep their data. Built from env vars by `stackConfig()`. */
export interface StackConfig {
  /** Repository root (the folder that holds `stack/`). */
  root: string;
  /** Data folder for every service, pid files and logs (default `<root>/.stack`). */
  dir: string;
  /** All services bind to this address only. */
  host: '127.0.0.1';
  mariadb: { port: number; database: string; user: string; password: string };
  redis: { port: number };
  kafka: { port: number; controllerPort: number; version: string };
  ferretdb: { port: number; version: string };
}

export type Env = Record<string, string | undefined>;

function port(env: Env, name: string, fallback: number): number {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 1 || n > 65535) {
    throw new StackError(`${name}=${raw} is not a TCP port (1-65535)`);
  }
  return n;
}

function text(env: Env, name: string, fallback: string): string {
  const raw = env[name];
  return raw === undefined || raw === '' ? fallback : raw;
}

/** The stack configuration: defaults overridden by the STREAMING_STACK_* variables (see stack/README.md). */
export function stackConfig(env: Env = process.env): StackConfig {
  const root = path.resolve(import.meta.dirname, '..');
  const dir = path.resolve(root, text(env, 'STREAMING_STACK_DIR', '.stack'));
  const ferretVersion = text(env, 'STREAMING_STACK_FERRETDB_VERSION', 'v1.24.2');
  return {
    root,
    dir,
    host: '127.0.0.1',
    mariadb: {
      port: port(env, 'STREAMING_STACK_MYSQL_PORT', 3306),
      database: 'streaming',
      user: 'streaming',
      password: 'streaming',
    },
    redis: { port: port(env, 'STREAMING_STACK_REDIS_PORT', 6379) },
    kafka: {
      port: port(env, 'STREAMING_STACK_KAFKA_PORT', 9092),
      controllerPort: port(env, 'STREAMING_STACK_KAFKA_CONTROLLER_PORT', 9093),
      version: text(env, 'STREAMING_STACK_KAFKA_VERSION', '3.9.1'),
    },
    ferretdb: {
      port: port(env, 'STREAMING_STACK_MONGO_PORT', 27017),
      version: ferretVersion.startsWith('v') ? ferretVersion : `v${ferretVersion}`,
    },
  };
}
