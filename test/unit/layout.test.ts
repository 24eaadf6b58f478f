import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import t from 'tap';
import { ROOT } from '../support/paths.js';

/**
 * The layout the README's map describes, checked on every import: one folder per program, a shared module that
 * imports none of them, a pure contract and an HTTP-free core, no cycles, and no source file over 300 lines.
 */

const FUNC = path.join(ROOT, 'func');
const files = (readdirSync(FUNC, { recursive: true }) as string[])
  .filter((f) => f.endsWith('.ts'))
  .map((f) => f.split(path.sep).join('/'));

/** Every import of a file: relative ones resolved to func/-relative paths (.ts), packages by name. */
function importsOf(file: string): string[] {
  const text = readFileSync(path.join(FUNC, file), 'utf8');
  const specs = [...text.matchAll(/(?:from|import)\s*\(?\s*'([^']+)'/g)].map((m) => m[1]!);
  return specs.map((s) =>
    s.startsWith('.') ? path.posix.normalize(path.posix.join(path.posix.dirname(file), s)).replace(/\.js$/, '.ts') : s,
  );
}
const graph = new Map(files.map((f) => [f, importsOf(f)]));

const RULES: { from: RegExp; never: RegExp; why: string }[] = [
  { from: /^shared\//, never: /^(detector|logging|cli|bench|build)\//, why: 'shared imports no program' },
  { from: /^detector\//, never: /^(logging|cli|bench|build)\//, why: 'the detector imports no other program' },
  {
    from: /^logging\//,
    never: /^(detector|cli|bench|build)\//,
    why: 'the logging service imports no other program',
  },
  { from: /^(cli|bench)\//, never: /^(logging|build)\//, why: 'the command line and bench use the detector only' },
  {
    from: /^build\//,
    never: /^(shared|detector|logging|cli|bench)\//,
    why: 'the build imports no program: it bundles their compiled output',
  },
  {
    from: /^detector\/contract\//,
    never: /^(detector\/(service|function|server)\/|shared\/(logger|http\/)|prom-client$|fastify|pino$)/,
    why: 'the contract is pure: no service, metrics, logger or HTTP framework',
  },
  {
    from: /^detector\/core\//,
    never:
      /^(detector\/(contract|service|function|server)\/|shared\/http\/|fastify|@fastify\/|faas-js-runtime$|cloudevents$|prom-client$|node:http$)/,
    why: 'the core knows nothing of HTTP, the contract or the service',
  },
];

t.test('each folder imports only what its place allows', async (t) => {
  const violations: string[] = [];
  let checked = 0;
  for (const [file, imports] of graph) {
    for (const rule of RULES.filter((r) => r.from.test(file))) {
      checked += imports.length;
      for (const target of imports.filter((i) => rule.never.test(i)))
        violations.push(`${rule.why}: ${file} → ${target}`);
    }
  }
  t.same(violations, []);
  t.ok(checked > 100, `${checked} imports checked`);
});

t.test('no import cycles', async (t) => {
  const state = new Map<string, 'open' | 'done'>();
  const cycles: string[] = [];
  const visit = (file: string, trail: string[]): void => {
    if (state.get(file) === 'done') return;
    if (state.get(file) === 'open') {
      cycles.push([...trail.slice(trail.indexOf(file)), file].join(' → '));
      return;
    }
    state.set(file, 'open');
    for (const next of graph.get(file) ?? []) if (graph.has(next)) visit(next, [...trail, file]);
    state.set(file, 'done');
  };
  for (const file of graph.keys()) visit(file, []);
  t.same(cycles, []);
});

t.test('no source file over 300 lines', async (t) => {
  const long = files
    .map((f) => [f, readFileSync(path.join(FUNC, f), 'utf8').split('\n').length - 1] as const)
    .filter(([, n]) => n > 300);
  t.same(long, []);
  t.ok(files.length > 50, `${files.length} files`);
});
