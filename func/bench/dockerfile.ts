import { readFileSync } from 'node:fs';
import path from 'node:path';

/**
 * The Dockerfile as instructions, [KEYWORD, argument] per logical line (continuations joined, comments dropped):
 * the bench and the tests take what the image does from the Dockerfile itself, so they cannot drift from it.
 */
export function dockerfileInstructions(root: string): [string, string][] {
  return readFileSync(path.join(root, 'Dockerfile'), 'utf8')
    .replace(/\\\n/g, ' ')
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l && !l.startsWith('#'))
    .map((l) => {
      const [keyword, ...rest] = l.split(/\s+/);
      return [keyword!.toUpperCase(), rest.join(' ')];
    });
}
