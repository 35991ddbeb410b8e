// What the CLI calls to run the simulator as a service.
import type { AccountSpec } from './admin.ts';
import { defaultAccounts } from './defaults.ts';
import { startSimulator, type Simulator } from './server.ts';

export interface RunSimulatorOptions {
  port: number;
  host?: string;
  /** Default: the two accounts matching streaming's default configuration. */
  accounts?: AccountSpec[];
  /** The file that keeps the signatures and templates across restarts (none: in memory). */
  catalogFile?: string;
  /** Where progress lines go (default stdout). */
  write?: (line: string) => void;
}

export async function runSimulator(options: RunSimulatorOptions): Promise<Simulator> {
  const accounts = options.accounts?.length ? options.accounts : defaultAccounts();
  const simulator = await startSimulator({
    port: options.port,
    host: options.host ?? '127.0.0.1',
    accounts,
    ...(options.catalogFile ? { catalogFile: options.catalogFile } : {}),
  });
  const write = options.write ?? ((line: string) => process.stdout.write(`${line}\n`));
  write(
    `supplier simulator listening on ${simulator.url} (aliyun: ${simulator.url}/, tencent: ${simulator.url}/ or ${simulator.url}/tencent/, admin: ${simulator.url}/admin/; accounts: ${accounts.map((a) => a.id).join(', ')}; reviews kept in ${options.catalogFile ?? 'memory only'})`,
  );
  return simulator;
}
