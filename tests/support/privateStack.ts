// A stack of a test file's own (own data folder under .stack/, own ports),
// for tests that stop or restart a service: the shared stack the other test
// files use is never touched. It starts from the repo's own stack/ scripts,
// as `npm run stack -- up` does, and reuses that stack's downloaded jars and
// built FerretDB binary (stack/kafka.ts, stack/ferretdb.ts), so in a fresh
// clone it costs only the start of its services.
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { stack, type ServiceName } from '../../stack/index.ts';

const repo = fileURLToPath(new URL('../..', import.meta.url));

export interface PrivatePorts {
  mysql?: number;
  redis?: number;
  kafka?: number;
  kafkaController?: number;
  mongo?: number;
}

export interface PrivateStack {
  /** STREAMING_STACK_* for stack/ (dir and ports). */
  stackEnv: Record<string, string>;
  /** STREAMING_* URLs of the services it runs (the MySQL URL names the stack's default database). */
  env: Record<string, string>;
  up(services?: ServiceName[]): Promise<void>;
  down(services?: ServiceName[]): Promise<void>;
  /** Stops the services, waits downMs, starts them again. */
  restart(services: ServiceName[], downMs: number): Promise<void>;
}

/** Brings up `services` of a private stack in `.stack/<name>` on the given ports. */
export async function privateStack(
  name: string,
  ports: PrivatePorts,
  services: ServiceName[],
): Promise<PrivateStack> {
  const stackEnv: Record<string, string> = {
    STREAMING_STACK_DIR: path.join(repo, '.stack', name),
  };
  const env: Record<string, string> = {};
  if (ports.mysql) {
    stackEnv.STREAMING_STACK_MYSQL_PORT = String(ports.mysql);
    env.STREAMING_MYSQL_URL = `mysql://streaming:streaming@127.0.0.1:${ports.mysql}/streaming`;
  }
  if (ports.redis) {
    stackEnv.STREAMING_STACK_REDIS_PORT = String(ports.redis);
    env.STREAMING_REDIS_URL = `redis://127.0.0.1:${ports.redis}/0`;
  }
  if (ports.kafka) {
    stackEnv.STREAMING_STACK_KAFKA_PORT = String(ports.kafka);
    stackEnv.STREAMING_STACK_KAFKA_CONTROLLER_PORT = String(
      ports.kafkaController ?? ports.kafka + 1,
    );
    env.STREAMING_KAFKA_BROKERS = `127.0.0.1:${ports.kafka}`;
  }
  if (ports.mongo) {
    stackEnv.STREAMING_STACK_MONGO_PORT = String(ports.mongo);
    env.STREAMING_MONGO_URL = `mongodb://127.0.0.1:${ports.mongo}/streaming`;
  }
  const run = async (command: 'up' | 'down', only: ServiceName[]) => {
    const lines: string[] = [];
    const code = await stack(command, {
      env: { ...process.env, ...stackEnv },
      services: only,
      print: (l) => void lines.push(l),
    });
    if (code !== 0) {
      throw new Error(`stack ${command} ${only.join(' ')} (${name}) failed:\n${lines.join('\n')}`);
    }
  };
  const s: PrivateStack = {
    stackEnv,
    env,
    up: (only = services) => run('up', only),
    down: (only = services) => run('down', only),
    async restart(only, downMs) {
      await run('down', only);
      await new Promise((r) => setTimeout(r, downMs));
      await run('up', only);
    },
  };
  await s.up();
  return s;
}
