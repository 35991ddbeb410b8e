// The code-health counts of issue #17, so that a closing note's "before" and "after" can be rerun:
//   node scripts/codeCounts.ts            counts for the working tree
//   node scripts/codeCounts.ts --list     the same, naming each cast, long file and long function
// "Non-test code" is every tracked .ts/.js file outside tests/ and bench/ that is not a *.spec.ts.
// The duplicates figure needs the `duplicates` command on PATH (pairs in which neither side is a test).
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import ts from 'typescript';

const list = process.argv.includes('--list');
const SELF = 'scripts/codeCounts.ts';
const files = execFileSync('git', ['ls-files', '*.ts', '*.js', '*.cjs'], { encoding: 'utf8' })
  .split('\n')
  .filter((f) => f && !isTest(f) && !f.startsWith('bench/') && !f.startsWith('node_modules/'));

function isTest(file: string): boolean {
  return file.startsWith('tests/') || file.endsWith('.spec.ts');
}

const casts = { 'as unknown as': [] as string[], '.data as': [] as string[] };
const longFiles: string[] = [];
const functions: { where: string; lines: number }[] = [];

for (const file of files) {
  const text = readFileSync(file, 'utf8');
  const lines = text.split('\n');
  lines.forEach((line, i) => {
    if (file === SELF) return; // its own needles are not casts
    for (const [needle, found] of Object.entries(casts)) {
      for (let at = line.indexOf(needle); at !== -1; at = line.indexOf(needle, at + 1))
        found.push(`${file}:${i + 1}`);
    }
  });
  const lineCount = text.endsWith('\n') ? lines.length - 1 : lines.length;
  if (lineCount > 300) longFiles.push(`${file} (${lineCount})`);
  const source = ts.createSourceFile(file, text, ts.ScriptTarget.Latest, true);
  const visit = (node: ts.Node): void => {
    if (ts.isFunctionLike(node) && 'body' in node && node.body) {
      const start = source.getLineAndCharacterOfPosition(node.getStart(source)).line;
      const end = source.getLineAndCharacterOfPosition(node.getEnd()).line;
      functions.push({ where: `${file}:${start + 1}`, lines: end - start + 1 });
    }
    ts.forEachChild(node, visit);
  };
  visit(source);
}

function duplicatePairs(): string {
  try {
    const out = execFileSync('duplicates', ['--most', '200', '--seconds', '120'], {
      encoding: 'utf8',
    });
    const rows = out.split('\n').filter((l) => /^D\d+ /.test(l));
    const outside = rows.filter((row) => {
      const [, a = '', , b = ''] = row.split(' ');
      return !isTest(a.replace(/:[^:]*$/, '')) && !isTest(b.replace(/:[^:]*$/, ''));
    });
    return `${outside.length} (of ${rows.length} listed)`;
  } catch {
    return 'n/a (no `duplicates` command)';
  }
}

const over = (n: number) => functions.filter((f) => f.lines > n).sort((a, b) => b.lines - a.lines);
const report = {
  files: files.length,
  'as unknown as': casts['as unknown as'].length,
  '.data as': casts['.data as'].length,
  'files over 300 lines': longFiles.length,
  'functions over 60 lines': over(60).length,
  'functions over 80 lines': over(80).length,
  'duplicates pairs outside tests': duplicatePairs(),
};
for (const [k, v] of Object.entries(report)) console.log(`${k}: ${v}`);
if (list) {
  for (const [needle, found] of Object.entries(casts))
    console.log(`\n${needle}:\n  ${found.join('\n  ')}`);
  console.log(`\nfiles over 300 lines:\n  ${longFiles.join('\n  ')}`);
  console.log(
    `\nfunctions over 60 lines:\n  ${over(60)
      .map((f) => `${f.where} (${f.lines})`)
      .join('\n  ')}`,
  );
}
