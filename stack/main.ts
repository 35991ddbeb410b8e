// node stack/main.ts up|down|status [service...]
import { SERVICE_NAMES, stack, type ServiceName, type StackCommand } from './index.ts';

const [command, ...rest] = process.argv.slice(2);
const commands: readonly string[] = ['up', 'down', 'status'];

if (!command || !commands.includes(command)) {
  console.error(`usage: node stack/main.ts up|down|status [${SERVICE_NAMES.join('|')} ...]`);
  process.exitCode = 2;
} else {
  process.exitCode = await stack(command as StackCommand, { services: rest as ServiceName[] });
}
