// The `streaming` command. Each subcommand lives in its own module and is
// loaded on use, so `streaming stack up` does not load the services.
import { Command } from 'commander';
import { SERVICE_NAMES, stack, type ServiceName, type StackCommand } from '../stack/index.ts';

const program = new Command();
program
  .name('streaming')
  .description('streaming: one API for SMS — verification codes, notifications, receipts')
  .showHelpAfterError();

program
  .command('stack')
  .description(
    'install and run the local services (MariaDB, Redis, Kafka, FerretDB) without Docker',
  )
  .argument('<action>', 'up | down | status')
  .argument('[services...]', `only these: ${SERVICE_NAMES.join(', ')}`)
  .action(async (action: string, services: string[]) => {
    if (!['up', 'down', 'status'].includes(action)) {
      program.error(`stack: unknown action "${action}" (use up, down or status)`);
    }
    process.exitCode = await stack(action as StackCommand, { services: services as ServiceName[] });
  });

program
  .command('simulator')
  .description('run the upstream SMS supplier simulator (Aliyun and Tencent wire formats)')
  .option('-p, --port <port>', 'port to listen on (default STREAMING_SIMULATOR_PORT or 8090)')
  .action(async (options: { port?: string }) => {
    if (options.port) process.env.STREAMING_SIMULATOR_PORT = options.port;
    await import('../simulator/main.ts');
  });

await program.parseAsync(process.argv);
