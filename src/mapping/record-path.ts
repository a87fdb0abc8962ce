/**
 * Plain record paths (`full_name`, `address.city`, `orders[0].total`, `Account.Name`,
 * `` `Account Name` ``), read by a small hand-written getter: most pop fields are paths, and
 * this is ~50x cheaper than evaluating them through JSONata. Unlike JSONata, a path does not
 * map over arrays (`orders.total` is missing); use an expression for that.
 */

export type PathStep = string | number;

/** Parses a path, or returns a problem description. */
export function parseRecordPath(text: string): PathStep[] | string {
  const steps: PathStep[] = [];
  let i = 0;
  const n = text.length;
  if (n === 0) return 'empty path';
  let expectName = true;
  while (i < n) {
    const c = text[i];
    if (c === '[') {
      const close = text.indexOf(']', i);
      const digits = close < 0 ? '' : text.slice(i + 1, close);
      if (!/^\d{1,6}$/.test(digits)) return `bad index at position ${i + 1} (expected [0], [1], ...)`;
      steps.push(Number(digits));
      i = close + 1;
      expectName = false;
      continue;
    }
    if (c === '.') {
      if (expectName) return `empty name at position ${i + 1}`;
      i++;
      expectName = true;
      if (i === n) return 'path ends with "."';
      continue;
    }
    if (!expectName) return `expected "." or "[" at position ${i + 1}`;
    if (c === '`') {
      const close = text.indexOf('`', i + 1);
      if (close < 0) return 'unclosed ` quote';
      steps.push(text.slice(i + 1, close));
      i = close + 1;
    } else {
      const start = i;
      while (i < n && !'.[]`{}'.includes(text[i]!) && !/\s/.test(text[i]!)) i++;
      if (i === start) return `unexpected "${c}" at position ${i + 1}`;
      const name = text.slice(start, i);
      // `orders.0.total` reads like an index; accept it as one.
      steps.push(/^\d{1,6}$/.test(name) ? Number(name) : name);
    }
    expectName = false;
  }
  return steps;
}

/** Reads a path from a value. Only own properties are read (no `constructor`, no prototype). */
export function readPath(root: unknown, steps: readonly PathStep[]): unknown {
  let cur = root;
  for (const step of steps) {
    if (cur === null || typeof cur !== 'object') return undefined;
    if (Array.isArray(cur)) {
      if (typeof step !== 'number') return undefined;
      cur = cur[step];
    } else {
      const key = String(step);
      if (!Object.prototype.hasOwnProperty.call(cur, key)) return undefined;
      cur = (cur as Record<string, unknown>)[key];
    }
  }
  return cur;
}
