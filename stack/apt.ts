import fs from 'node:fs';
import path from 'node:path';
import { capture, runLogged, seconds, StackError, ticking, which, type Print } from './proc.ts';

function listsEmpty(): boolean {
  try {
    return !fs.readdirSync('/var/lib/apt/lists').some((f) => f.includes('_Packages'));
  } catch {
    return true;
  }
}

/** `sudo -n` when we are not root and may use it; throws a one-line StackError otherwise. */
async function privilege(debs: string[]): Promise<string[]> {
  if (process.getuid?.() === 0) return [];
  const sudo = which('sudo');
  if (
    sudo &&
    (await capture(sudo, ['-n', 'true']).then(
      () => true,
      () => false,
    ))
  ) {
    return [sudo, '-n'];
  }
  throw new StackError(
    `${debs.join(', ')} not installed and we are not root: run sudo apt-get install -y ${debs.join(' ')}`,
  );
}

/** Why `aptInstall(debs)` cannot work here (one line), or undefined when it can. */
export async function aptProblem(debs: string[]): Promise<string | undefined> {
  if (!debs.length) return undefined;
  if (!which('apt-get')) {
    return `${debs.join(', ')} not installed and apt-get is not available: install ${debs.join(' and ')} with your package manager`;
  }
  try {
    await privilege(debs);
    return undefined;
  } catch (err) {
    return (err as Error).message;
  }
}

/**
 * Installs Debian packages with ONE apt-get call (apt-get must never run concurrently with
 * itself). Runs `apt-get update` first when the package lists are empty, or once after a
 * failed install, then retries.
 */
export async function aptInstall(debs: string[], logDir: string, say: Print): Promise<void> {
  const apt = which('apt-get');
  if (!apt) {
    throw new StackError(
      `${debs.join(', ')} not installed and apt-get is not available: install ${debs.join(' and ')} with your package manager`,
    );
  }
  const prefix = await privilege(debs);
  const [cmd, ...pre] = prefix.length ? prefix : [apt];
  const args = (a: string[]): string[] => (prefix.length ? [...pre, apt, ...a] : a);
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  const log = path.join(logDir, 'apt.log');
  const t0 = Date.now();
  let updated = false;
  const update = async (): Promise<void> => {
    say('apt-get update');
    await runLogged('apt-get update', cmd as string, args(['update']), log, { env });
    updated = true;
  };
  const install = (): Promise<void> =>
    runLogged(
      `apt-get install ${debs.join(' ')}`,
      cmd as string,
      args(['install', '-y', '--no-install-recommends', ...debs]),
      log,
      { env },
    );
  say(`installing ${debs.join(' ')} with apt-get (log: ${log})`);
  await ticking(
    say,
    'apt-get',
    async () => {
      if (listsEmpty()) await update();
      try {
        await install();
      } catch (err) {
        if (updated) throw err;
        say('apt-get install failed; running apt-get update and retrying once');
        await update();
        await install();
      }
    },
    log,
  );
  say(`installed ${debs.join(' ')} in ${seconds(t0)} s`);
}
