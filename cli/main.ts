// The `streaming` command. Each subcommand lives in its own module and is
// loaded on use, so `streaming stack up` does not load the services.
import { Command } from 'commander';
import { SERVICE_NAMES, stack, type ServiceName, type StackCommand } from '../stack/index.ts';

// kafkajs 2.2.4 schedules a timer with a negative delay on Node 24 (tulios/kafkajs#1751);
// the warning is harmless and would otherwise greet every user of `npm start`.
const emitWarning = process.emitWarning.bind(process);
process.emitWarning = ((warning: string | Error, ...rest: unknown[]) => {
  const name = typeof warning === 'string' ? rest[0] : warning.name;
  if (name === 'TimeoutNegativeWarning') return;
  (emitWarning as (...args: unknown[]) => void)(warning, ...rest);
}) as typeof process.emitWarning;

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
    if (process.send) {
      // under npm start: its process metrics in the supervisor's one scrape
      const { answerMetricsOverIpc, enableProcessMetrics } =
        await import('../platform/metrics/index.ts');
      enableProcessMetrics('simulator');
      answerMetricsOverIpc();
    }
    await import('../simulator/main.ts');
  });

program
  .command('start')
  .description(
    'start everything: the local stack, the supplier simulator and every component, in the foreground (Ctrl-C stops what it started)',
  )
  .option('--no-stack', 'do not start the local stack (use services already running)')
  .action(async (options: { stack: boolean }) => {
    const { start } = await import('./start.ts');
    await start({ stack: options.stack });
  });

program
  .command('serve')
  .description('run some components in this process (one per container in docker-compose.yml)')
  .argument('<components...>', 'command, query, processors, projectors, jobs, pump')
  .action(async (names: string[]) => {
    (await import('./supervisor.ts')).watchSupervisor();
    const { serveForever } = await import('./serve.ts');
    await serveForever(names);
  });

const users = program.command('users').description('manage users');
users
  .command('create-admin')
  .description('register an admin user (the first admin of a deployment)')
  .requiredOption('-u, --username <username>', '3–32 of a-z 0-9 _ . -')
  .option(
    '-p, --password <password>',
    'at least 10 characters (default: STREAMING_ADMIN_PASSWORD, so it stays out of shell history)',
  )
  .action(async (options: { username: string; password?: string }) => {
    const password = options.password ?? process.env.STREAMING_ADMIN_PASSWORD;
    if (!password)
      program.error('users create-admin: give --password or set STREAMING_ADMIN_PASSWORD');
    const { withRuntime } = await import('./runtime.ts');
    const { createAdmin } = await import('../command-service/index.ts');
    await withRuntime('cli', async (rt) => {
      const { userId } = await createAdmin({
        config: rt.config,
        eventStore: rt.eventStore,
        username: options.username,
        password: password!,
      });
      console.log(`admin ${options.username} created: userId ${userId}`);
    });
  });

const tenantsCmd = program
  .command('tenants')
  .description('tenants: trial, active or suspended, and their platform limits (admin)');
const positiveInt = (name: string) => (value: string) => {
  const n = Number(value);
  if (!Number.isSafeInteger(n) || n < 1) throw new Error(`${name} must be a whole number ≥ 1`);
  return n;
};
async function tenantAction(
  id: string,
  action: Parameters<typeof import('../command-service/index.ts').adminTenant>[2],
): Promise<void> {
  const { withRuntime } = await import('./runtime.ts');
  const { adminTenant } = await import('../command-service/index.ts');
  await withRuntime('cli', async (rt) => {
    const view = await adminTenant(
      {
        config: rt.config,
        logger: rt.logger,
        eventStore: rt.eventStore,
        redis: rt.redis,
        tracker: rt.tracker,
      },
      id,
      action,
      { actor: { type: 'system', id: 'cli' } },
    );
    console.log(JSON.stringify(view, null, 2));
  });
}
tenantsCmd
  .command('list')
  .description('every tenant with its status and the limits an admin set (from the read model)')
  .option('--status <status>', 'trial | active | suspended')
  .action(async (options: { status?: string }) => {
    const { withRuntime } = await import('./runtime.ts');
    await withRuntime('cli', async (rt) => {
      const [rows] = await rt.mysql.query(
        `SELECT tenant_id, status, limits, verified_numbers, suspended_reason FROM tenants${
          options.status ? ' WHERE status = ?' : ''
        } ORDER BY tenant_id`,
        options.status ? [options.status] : [],
      );
      for (const r of rows as Record<string, unknown>[]) {
        console.log(
          [
            r.tenant_id,
            r.status,
            `limits ${String(r.limits)}`,
            `verified numbers ${String(r.verified_numbers)}`,
            r.suspended_reason ? `reason: ${String(r.suspended_reason)}` : '',
          ]
            .filter(Boolean)
            .join('  '),
        );
      }
    });
  });
tenantsCmd
  .command('activate')
  .description('promote a trial (or suspended) tenant to active')
  .argument('<tenantId>')
  .action((id: string) => tenantAction(id, { type: 'activate' }));
tenantsCmd
  .command('suspend')
  .description('suspend a tenant: its sends answer 403 TENANT_SUSPENDED')
  .argument('<tenantId>')
  .option('--reason <text>', 'why (recorded in the event)')
  .action((id: string, options: { reason?: string }) =>
    tenantAction(id, { type: 'suspend', reason: options.reason }),
  );
tenantsCmd
  .command('limits')
  .description('set the platform limits of a tenant (they replace its previous ones)')
  .argument('<tenantId>')
  .option('--max-per-day <n>', 'sends per day, all templates', positiveInt('--max-per-day'))
  .option('--max-per-second <n>', 'sends per second', positiveInt('--max-per-second'))
  .option(
    '--mobile-max-per-day <n>',
    'sends to one mobile per day, all templates',
    positiveInt('--mobile-max-per-day'),
  )
  .option('--countries <codes>', 'allowed calling codes, comma-separated (e.g. 86,852)')
  .action(
    (
      id: string,
      o: {
        maxPerDay?: number;
        maxPerSecond?: number;
        mobileMaxPerDay?: number;
        countries?: string;
      },
    ) =>
      tenantAction(id, {
        type: 'limits',
        limits: {
          ...(o.maxPerDay === undefined ? {} : { maxPerDay: o.maxPerDay }),
          ...(o.maxPerSecond === undefined ? {} : { maxPerSecond: o.maxPerSecond }),
          ...(o.mobileMaxPerDay === undefined ? {} : { mobileMaxPerDay: o.mobileMaxPerDay }),
          ...(o.countries === undefined
            ? {}
            : { countries: o.countries.split(',').map((c) => c.trim().replace(/^\+/, '')) }),
        },
      }),
  );

const positionArg = (value: string) => {
  const n = Number(value);
  if (!Number.isSafeInteger(n) || n < 0)
    throw new Error(`--from must be a position ≥ 0 (got "${value}")`);
  return n;
};

program
  .command('replay')
  .description(
    'rebuild a read model from the event store, blue/green (the old one serves until the swap), with progress',
  )
  .argument(
    '<projection>',
    'message_history | templates | users | inbound_messages | tenants | audit_log | message_timelines | all | limits | lookups',
  )
  .option(
    '--from <position>',
    'only events after this global position (default 0: everything)',
    positionArg,
  )
  .action(async (projection: string, options: { from?: number }) => {
    const { withRuntime } = await import('./runtime.ts');
    if (projection === 'lookups') {
      // the dispatcher's Redis look-ups (receipts, replies): rebuilt in place
      const { rebuildSupplierLookups } = await import('../processors/index.ts');
      const { default: cliProgress } = await import('cli-progress');
      await withRuntime('cli', async (rt) => {
        const started = performance.now();
        const progress = new cliProgress.SingleBar(
          {
            format:
              'lookups            [{bar}] {percentage}% | {value}/{total} positions | ETA {eta_formatted}',
            stream: process.stderr,
            hideCursor: true,
          },
          cliProgress.Presets.shades_classic,
        );
        progress.start(Math.max(1, await rt.eventStore.headPosition()), 0);
        const count = await rebuildSupplierLookups(rt, {
          onProgress: (position) => progress.update(position),
        });
        progress.stop();
        console.log(
          `lookups: ${count} submissions re-noted in ${((performance.now() - started) / 1000).toFixed(1)} s`,
        );
      });
      return;
    }
    const { replayCommand } = await import('../projectors/index.ts');
    await withRuntime('cli', async (rt) => {
      const results = await replayCommand(rt, { projection, from: options.from, progress: true });
      for (const r of results) {
        console.log(
          `${r.projection}: ${r.events} events up to position ${r.position} in ${(r.ms / 1000).toFixed(1)} s (${Math.round(r.eventsPerSecond)} events/s)`,
        );
      }
    });
  });

const projectionsCmd = program.command('projections').description('read-model projections');
projectionsCmd
  .command('status')
  .description(
    "each projection's position, lag and state (progressing, lagging, stalled, standby), the processors' states, and the parked events",
  )
  .option('--json', 'print JSON')
  .action(async (options: { json?: boolean }) => {
    const { withRuntime } = await import('./runtime.ts');
    const { systemStatus, formatSystemStatus } = await import('../projectors/index.ts');
    await withRuntime('cli', async (rt) => {
      const status = await systemStatus(rt);
      console.log(options.json ? JSON.stringify(status, null, 2) : formatSystemStatus(status));
    });
  });
projectionsCmd
  .command('retry')
  .description(
    'rebuild a projection to re-apply its parked events (blue/green), and clear those it applied',
  )
  .argument('<projection>', 'projection name, e.g. message_history')
  .action(async (name: string) => {
    const { withRuntime } = await import('./runtime.ts');
    const { retryParked } = await import('../projectors/index.ts');
    await withRuntime('cli', async (rt) => {
      const result = await retryParked(rt, name, { progress: process.stderr.isTTY });
      console.log(
        result.parked === 0
          ? `${result.projection}: no parked events`
          : `${result.projection}: rebuilt to position ${result.position}; ${result.cleared} of ${result.parked} parked event(s) applied and cleared`,
      );
    });
  });

const audit = program.command('audit').description('verifiable audit exports');
audit
  .command('export')
  .description('write every event (codes masked) with a hash chain and a closing manifest')
  .option('--tenant <id>', 'only this tenant')
  .option('--from <time>', 'ISO 8601 start time')
  .option('--to <time>', 'ISO 8601 end time')
  .option('--format <format>', 'ndjson | csv', 'ndjson')
  .requiredOption('--out <file>', 'the file to write')
  .action(
    async (options: {
      tenant?: string;
      from?: string;
      to?: string;
      format: string;
      out: string;
    }) => {
      if (options.format !== 'ndjson' && options.format !== 'csv') {
        program.error(`audit export: --format must be ndjson or csv (got "${options.format}")`);
      }
      const { withRuntime } = await import('./runtime.ts');
      const { auditExport } = await import('../query-service/index.ts');
      await withRuntime('cli', async (rt) => {
        const result = await auditExport(rt, {
          ...options,
          format: options.format as 'ndjson' | 'csv',
          progress: true,
        });
        console.log(
          `${result.count} records written to ${result.file}; last hash ${result.lastHash}`,
        );
      });
    },
  );
audit
  .command('verify')
  .description('check an export: reports edited, removed, inserted or reordered records by line')
  .argument('<file>', 'an export written by audit export')
  .option(
    '--key <key>',
    'the audit key, 64 hex characters or base64 (default: STREAMING_AUDIT_KEY; outside production its development default)',
  )
  .action(async (file: string, options: { key?: string }) => {
    const { auditVerify } = await import('../query-service/index.ts');
    const { decodeKey32, DEV_AUDIT_KEY } = await import('../platform/config/definitions.ts');
    const given =
      options.key ??
      (process.env.STREAMING_AUDIT_KEY?.trim() || undefined) ??
      (process.env.STREAMING_ENV === 'production' ? undefined : DEV_AUDIT_KEY);
    const key = given === undefined ? undefined : decodeKey32(given.trim());
    if (given !== undefined && !key) {
      program.error('audit verify: the key must be 32 bytes as 64 hex characters or base64');
    }
    const result = await auditVerify(file, key);
    for (const p of result.problems) console.log(`line ${p.line}: ${p.kind}: ${p.message}`);
    console.log(
      result.ok
        ? `${file}: OK, ${result.records} records, chain and manifest intact`
        : `${file}: ${result.problems.length} problem(s)`,
    );
    if (!result.ok) process.exitCode = 1;
  });

const jobs = program.command('jobs').description('scheduled jobs (retention, sweeper)');
jobs
  .command('list')
  .description('each job with its schedule, last run, result and lock holder')
  .action(async () => {
    const { withRuntime } = await import('./runtime.ts');
    const { listJobs } = await import('../jobs/index.ts');
    await withRuntime('cli', async (rt) => {
      for (const job of await listJobs(rt)) {
        const last = job.lastRun;
        console.log(
          [
            job.name.padEnd(10),
            `schedule ${job.schedule}`.padEnd(26),
            `next ${job.nextRun ?? '-'}`,
            last
              ? `last ${last.startedAt} ${last.status}${last.error ? ` (${last.error})` : ''} by ${last.holder}`
              : 'never run',
            job.holder ? `held by ${job.holder}` : 'not running',
          ].join('  '),
        );
      }
    });
  });
jobs
  .command('run')
  .description('run one job once now, under the same lock as the scheduler')
  .argument('<name>', 'retention | sweeper')
  .action(async (name: string) => {
    const { withRuntime } = await import('./runtime.ts');
    const { runJob } = await import('../jobs/index.ts');
    await withRuntime('cli', async (rt) => {
      const outcome = await runJob(rt, name);
      console.log(JSON.stringify(outcome, null, 2));
      if (outcome.status !== 'ran') process.exitCode = 1;
    });
  });

try {
  await program.parseAsync(process.argv);
} catch (err) {
  // Expected failures (bad config, a taken username …) are one line, not a stack trace.
  const e = err as { code?: unknown; message?: unknown; problems?: unknown };
  console.error(
    `streaming: ${typeof e.code === 'string' ? `${e.code}: ` : ''}${String(e.message ?? err)}`,
  );
  // Whatever was half started must not linger.
  process.exit(1);
}
