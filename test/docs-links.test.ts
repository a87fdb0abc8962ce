import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join, normalize } from 'node:path';

/** The README and docs/ link each other and the example config; a moved file breaks them silently. */
describe('documentation links', () => {
  it('resolves every relative link in README.md and docs/*.md to a file in the repository', () => {
    const root = process.cwd();
    const files = ['README.md', ...readdirSync(join(root, 'docs')).filter((f) => f.endsWith('.md')).map((f) => `docs/${f}`)];
    const broken: string[] = [];
    for (const file of files) {
      const text = readFileSync(join(root, file), 'utf8');
      for (const match of text.matchAll(/\]\(([^)#\s]+)(?:#[^)]*)?\)/g)) {
        const link = match[1]!;
        if (/^[a-z]+:/.test(link)) continue; // http:, https:, mailto:
        if (!existsSync(normalize(join(root, dirname(file), link)))) broken.push(`${file}: ${link}`);
      }
    }
    assert.ok(files.length > 5, 'the docs were found');
    assert.deepEqual(broken, []);
  });
});
