import { readFileSync } from 'node:fs';

/**
 * Code blocks a document marks for a test with `<!-- <tag>: <file name> -->` on the line
 * before the fence, by file name. Tests compile or run the doc's own text, so an example
 * that stops compiling fails a test instead of misleading a reader.
 */
export function markedCodeBlocks(docPath: string, tag: string): Map<string, string> {
  const text = readFileSync(docPath, 'utf8');
  const blocks = new Map<string, string>();
  const marker = new RegExp(`<!--\\s*${tag}:\\s*(\\S+)\\s*-->\\s*\\n\`\`\`[a-z]*\\n([\\s\\S]*?)\\n\`\`\``, 'g');
  for (const match of text.matchAll(marker)) {
    const [, name, code] = match;
    if (blocks.has(name!)) throw new Error(`${docPath}: two blocks are marked ${tag}: ${name}`);
    blocks.set(name!, `${code}\n`);
  }
  return blocks;
}
