// Enforces the import rules between the folders that the README's Layout table describes.
// Each folder lists the project folders it may import; anything else fails `npm test`.
const folders = [
  'domain',
  'contracts',
  'schemas',
  'platform',
  'command-service',
  'query-service',
  'grpc-service',
  'processors',
  'suppliers',
  'projectors',
  'jobs',
  'pump',
  'cli',
  'stack',
  'simulator',
];
// contracts/ (stream, read-model, Redis-key and topic names) imports only domain/ (whose
// deciders name their streams); every other folder may import it.
const mayImport = {
  domain: [],
  contracts: ['domain'],
  schemas: ['contracts'],
  platform: ['domain', 'contracts', 'schemas'],
  'command-service': ['domain', 'contracts', 'schemas', 'platform', 'suppliers'],
  processors: ['domain', 'contracts', 'schemas', 'platform', 'suppliers'],
  // the vendors' wire formats: the adapters the dispatcher calls, the push parsers the webhooks use
  suppliers: ['contracts', 'platform'],
  projectors: ['domain', 'contracts', 'schemas', 'platform'],
  'query-service': ['contracts', 'schemas', 'platform'],
  // the gRPC API maps onto both sides' handlers and read-model queries, deciding nothing itself
  'grpc-service': [
    'domain',
    'contracts',
    'schemas',
    'platform',
    'command-service',
    'query-service',
  ],
  jobs: ['contracts', 'platform'],
  pump: ['contracts', 'platform'],
  cli: folders,
  stack: ['contracts'],
  simulator: ['contracts', 'schemas'],
};

const forbidden = Object.entries(mayImport).map(([from, allowed]) => {
  const others = folders.filter((f) => f !== from && !allowed.includes(f));
  return {
    name: `${from}-may-import-only-${allowed.length ? allowed.join('-') : 'itself'}`,
    severity: 'error',
    comment: `${from}/ may import ${allowed.length ? allowed.join(', ') : 'nothing of ours'} (see the Layout table in README.md)`,
    from: { path: `^${from}/` },
    to: { path: others.length ? `^(${others.join('|')})/` : '^$' },
  };
});

// testing/ (harnesses and workloads shared by tests and benches) and bench/ sit beside the
// product: no product folder imports them, and bench/ has its own support, not tests/'.
forbidden.push({
  name: 'product-imports-no-test-support',
  severity: 'error',
  comment: 'product code does not import tests/, testing/ or bench/',
  from: { path: `^(${folders.join('|')})/` },
  to: { path: '^(tests|testing|bench)/' },
});
forbidden.push({
  name: 'bench-imports-no-tests',
  severity: 'error',
  comment: 'bench/ uses testing/ or its own support, not tests/',
  from: { path: '^bench/' },
  to: { path: '^tests/' },
});
forbidden.push({
  name: 'testing-imports-no-tests',
  severity: 'error',
  comment: 'testing/ is shared by tests and benches, so it imports nothing of tests/',
  from: { path: '^testing/' },
  to: { path: '^tests/' },
});

forbidden.push({
  name: 'domain-has-no-io',
  severity: 'error',
  comment: 'domain/ is pure: no Node built-ins with I/O and no I/O packages',
  from: { path: '^domain/' },
  to: {
    dependencyTypes: ['core', 'npm'],
    pathNot: '^(node_modules/libphonenumber-js|crypto$|node:crypto$)',
  },
});

forbidden.push({
  name: 'no-circular',
  severity: 'error',
  from: {},
  to: { circular: true },
});

module.exports = {
  forbidden,
  options: {
    doNotFollow: { path: 'node_modules' },
    exclude: { path: '(^node_modules|\\.spec\\.ts$)' },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
    enhancedResolveOptions: { extensions: ['.ts', '.js'] },
  },
};
