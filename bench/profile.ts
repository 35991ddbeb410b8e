// Summarises V8 CPU profiles (`node --cpu-prof`, or `node bench/system.ts
// --cpu-prof`, which writes one per process into bench/results/prof/).
//
//   node bench/profile.ts <file.cpuprofile | dir> [--top 25]
//                         [--by function|file|package|owner|ours]
//
// For each profile: its wall time, the time samples spent in code (not idle),
// and the top entries by self time, grouped by function (name and place), by
// file, or by package (node_modules/<name>, node: internals, our folders).
// `--by owner` charges the time of node internals and native code to the
// nearest caller that is a package or ours (which library makes the
// syscalls); `--by ours` charges everything to the nearest function of ours
// up the stack (what of ours the time is spent for).
// "(garbage collector)", "(program)" (V8 and native work outside JS) and
// "(idle)" are V8's own names.
import { readFileSync, readdirSync, statSync } from 'node:fs';
import path from 'node:path';

interface CallFrame {
  functionName: string;
  url: string;
  lineNumber: number;
}
interface ProfileNode {
  id: number;
  callFrame: CallFrame;
  children?: number[];
}
interface Profile {
  nodes: ProfileNode[];
  startTime: number;
  endTime: number;
  samples: number[];
  timeDeltas: number[];
}

function arg(name: string, def: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1]! : def;
}

const top = Number(arg('top', '25'));
const by = arg('by', 'function') as 'function' | 'file' | 'package' | 'owner' | 'ours';
const target = process.argv[2];
if (!target || target.startsWith('--')) {
  console.error(
    'usage: node bench/profile.ts <file.cpuprofile | dir> [--top 25] [--by function|file|package]',
  );
  process.exit(2);
}

function shortUrl(url: string): string {
  if (url === '') return '';
  const clean = url.replace(/^file:\/\//, '');
  const nm = clean.lastIndexOf('/node_modules/');
  if (nm >= 0) return clean.slice(nm + '/node_modules/'.length);
  const root = path.dirname(path.dirname(new URL(import.meta.url).pathname));
  return clean.startsWith(root) ? clean.slice(root.length + 1) : clean;
}

function packageOf(url: string): string {
  const s = shortUrl(url);
  if (s === '') return '(native / V8)';
  if (s.startsWith('node:')) return 'node: internals';
  if (url.includes('/node_modules/')) {
    const parts = s.split('/');
    return parts[0]!.startsWith('@') ? `${parts[0]}/${parts[1]}` : parts[0]!;
  }
  return `${s.split('/')[0]}/ (ours)`;
}

function keyOf(frame: CallFrame): string {
  if (frame.url === '') return frame.functionName || '(anonymous)';
  if (by === 'package' || by === 'owner') return packageOf(frame.url);
  if (by === 'file') return shortUrl(frame.url);
  return `${frame.functionName || '(anonymous)'}  ${shortUrl(frame.url)}:${frame.lineNumber + 1}`;
}

function summarise(file: string): void {
  const profile = JSON.parse(readFileSync(file, 'utf8')) as Profile;
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const parent = new Map<number, number>();
  for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const isOurs = (f: CallFrame) =>
    f.url !== '' &&
    !f.url.includes('/node_modules/') &&
    !f.url.startsWith('node:') &&
    f.url.startsWith('file:');
  const isOwner = (f: CallFrame) => f.url !== '' && !f.url.startsWith('node:');
  /** The frame a sample is charged to in the owner / ours modes. */
  const chargedFrame = (id: number): CallFrame => {
    const own = byId.get(id)!.callFrame;
    if (by !== 'owner' && by !== 'ours') return own;
    if (own.url === '' && own.functionName.startsWith('(')) return own; // (garbage collector), (program)
    const wanted = by === 'ours' ? isOurs : isOwner;
    for (let at: number | undefined = id; at !== undefined; at = parent.get(at)) {
      const f = byId.get(at)!.callFrame;
      if (wanted(f)) return f;
    }
    return own;
  };
  const self = new Map<number, number>();
  profile.samples.forEach((id, i) => {
    self.set(id, (self.get(id) ?? 0) + (profile.timeDeltas[i] ?? 0));
  });
  const totals = new Map<string, number>();
  let busy = 0;
  let idle = 0;
  for (const [id, us] of self) {
    const frame = byId.get(id)!.callFrame;
    if (frame.functionName === '(idle)') {
      idle += us;
      continue;
    }
    busy += us;
    const key = keyOf(chargedFrame(id));
    totals.set(key, (totals.get(key) ?? 0) + us);
  }
  const wall = (profile.endTime - profile.startTime) / 1e6;
  console.log(
    `\n${path.basename(file)}: ${wall.toFixed(1)} s wall, ${(busy / 1e6).toFixed(2)} s busy (${((busy / 1e6 / wall) * 100).toFixed(1)}% of a core), ${(idle / 1e6).toFixed(1)} s idle`,
  );
  const rows = [...totals.entries()].sort((a, b) => b[1] - a[1]).slice(0, top);
  for (const [key, us] of rows) {
    console.log(
      `  ${(us / 1e3).toFixed(0).padStart(8)} ms  ${((us / busy) * 100).toFixed(1).padStart(5)}%  ${key}`,
    );
  }
}

const files = statSync(target).isDirectory()
  ? readdirSync(target)
      .filter((f) => f.endsWith('.cpuprofile'))
      .map((f) => path.join(target, f))
  : [target];
for (const f of files.sort()) summarise(f);
