import { readdirSync, readFileSync, existsSync } from 'node:fs';
import path from 'node:path';
import t from 'tap';
import { CONFIG_VARIABLES } from '../func/detector/service/config.js';
import { LOGGING_CONFIG_VARIABLES } from '../func/logging/config.js';
import { ROOT } from './support/paths.js';

/** The README is a front door, and every page it leads to is reachable: relative links and anchors resolve. */

const pages = ['README.md', ...readdirSync(path.join(ROOT, 'docs')).map((f) => `docs/${f}`)];

/** GitHub's heading anchors: lower case, punctuation dropped, spaces to hyphens. */
const slug = (heading: string): string =>
  heading
    .trim()
    .toLowerCase()
    .replace(/[^\p{L}\p{N} _-]/gu, '')
    .replace(/ /g, '-');
const anchorsOf = (text: string): Set<string> =>
  new Set([...text.matchAll(/^#{1,6} (.+)$/gm)].map((m) => slug(m[1]!.replace(/`/g, ''))));

t.test('README.md is at most 15,000 bytes and starts with the two commands', async (t) => {
  const readme = readFileSync(path.join(ROOT, 'README.md'), 'utf8');
  t.ok(Buffer.byteLength(readme) <= 15_000, `${Buffer.byteLength(readme)} bytes`);
  const first = /```sh\n([\s\S]*?)```/.exec(readme)?.[1] ?? '';
  t.match(first, /npm start/, 'runs the function locally');
  t.match(first, /npm test/, 'runs the tests');
});

t.test('every relative link and anchor resolves', async (t) => {
  const broken: string[] = [];
  let links = 0;
  for (const page of pages) {
    const text = readFileSync(path.join(ROOT, page), 'utf8').replace(/```[\s\S]*?```/g, '');
    for (const [, target] of text.matchAll(/\]\(([^)\s]+)\)/g)) {
      if (/^[a-z]+:/.test(target!)) continue;
      links++;
      const [file, anchor] = target!.split('#');
      const resolved = file ? path.join(ROOT, path.dirname(page), file) : path.join(ROOT, page);
      if (!existsSync(resolved)) broken.push(`${page}: ${target} (no such file)`);
      else if (anchor && resolved.endsWith('.md') && !anchorsOf(readFileSync(resolved, 'utf8')).has(anchor)) {
        broken.push(`${page}: ${target} (no such heading)`);
      }
    }
  }
  t.same(broken, []);
  t.ok(links > 10, `${links} links checked`);
});

t.test('docs/configuration.md documents every variable the config modules read', async (t) => {
  const doc = readFileSync(path.join(ROOT, 'docs', 'configuration.md'), 'utf8');
  for (const v of new Set([...CONFIG_VARIABLES, ...LOGGING_CONFIG_VARIABLES])) t.match(doc, `\`${v}\``, v);
});
