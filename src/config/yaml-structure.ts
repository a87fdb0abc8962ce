import { isAlias, isMap, isPair, isScalar, isSeq, type Document, type LineCounter, type Node } from 'yaml';

/**
 * One pass over a parsed YAML document: duplicate keys (a Set per map, so the cost is linear;
 * yaml's own `uniqueKeys` compares every key with every earlier one) and nesting depth.
 * Iterative, so a deep document cannot overflow the stack here.
 */
export interface StructureProblem {
  kind: 'duplicate-key' | 'too-deep';
  /** `line L, column C: key.path: ...`, without any value (a value could be a secret). */
  message: string;
}

export function checkYamlStructure(doc: Document, lines: LineCounter, maxDepth: number): StructureProblem[] {
  const problems: StructureProblem[] = [];
  const stack: { node: unknown; path: string; depth: number }[] = [{ node: doc.contents, path: '', depth: 0 }];
  while (stack.length > 0) {
    const { node, path, depth } = stack.pop()!;
    if (!isMap(node) && !isSeq(node)) continue;
    if (depth >= maxDepth) {
      problems.push({ kind: 'too-deep', message: `${where(node as Node, lines)}${path || '(top level)'}: nested more than ${maxDepth} levels deep` });
      continue;
    }
    if (isSeq(node)) {
      // Pushed last-first so problems come out in document order.
      for (let i = node.items.length - 1; i >= 0; i--) stack.push({ node: node.items[i], path: `${path}[${i}]`, depth: depth + 1 });
      continue;
    }
    const seen = new Set<string>();
    const children: typeof stack = [];
    for (const pair of node.items) {
      if (!isPair(pair)) continue;
      const key = keyText(pair.key);
      const keyPath = path ? `${path}.${key}` : key;
      if (seen.has(key)) {
        problems.push({ kind: 'duplicate-key', message: `${where(pair.key as Node, lines)}${keyPath}: duplicate key (YAML keeps only one of them; remove the other)` });
      }
      seen.add(key);
      children.push({ node: pair.value, path: keyPath, depth: depth + 1 });
    }
    for (let i = children.length - 1; i >= 0; i--) stack.push(children[i]!);
  }
  return problems;
}

function keyText(key: unknown): string {
  if (isScalar(key)) return String(key.value);
  if (isAlias(key)) return `*${key.source}`;
  return String(key);
}

function where(node: Node | null | undefined, lines: LineCounter): string {
  const offset = node?.range?.[0];
  if (offset === undefined) return '';
  const pos = lines.linePos(offset);
  return `line ${pos.line}, column ${pos.col}: `;
}
