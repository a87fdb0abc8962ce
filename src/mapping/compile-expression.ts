import jsonata from 'jsonata';
import type { ConfigSite } from './config-site.js';
import {
  FORBIDDEN_FUNCTIONS,
  JSONATA_FUNCTIONS,
  MAPPING_FUNCTIONS,
  MAPPING_VARIABLES,
  formatDate,
  tableFunction,
  type Tables,
} from './expression-functions.js';

/** The variables an expression sees besides the root (docs/mapping.md "Expressions"). */
export interface ExpressionBindings {
  call: Record<string, unknown>;
  matches: number;
  record: unknown;
  source: string | undefined;
  id: string | undefined;
}

export interface CompiledExpression {
  /** Synchronous for the simple reads of `$call...` that skip JSONata (see `directRead`). */
  evaluate(root: unknown, bindings: ExpressionBindings): unknown | Promise<unknown>;
}

export interface ExpressionEnv {
  tables: Tables;
  timeoutMs: number;
  maxDepth: number;
}

const KNOWN_FUNCTIONS = new Set([...JSONATA_FUNCTIONS, ...MAPPING_FUNCTIONS]);
const KNOWN_VARIABLES = new Set([...KNOWN_FUNCTIONS, ...MAPPING_VARIABLES, '', '$']); // `$` and `$$`

/**
 * Parses and checks an expression once, at load. JSONata itself reports an unknown function
 * only when a call reaches it, so the parsed AST is walked here and every function called and
 * variable read must be a built-in, one of callpop's, or bound inside the expression.
 */
export function compileExpression(site: ConfigSite, source: string, env: ExpressionEnv): CompiledExpression {
  let expression: jsonata.Expression;
  try {
    expression = jsonata(source, { timeout: env.timeoutMs, stack: env.maxDepth });
  } catch (err) {
    const e = err as { message?: string; position?: number };
    site.fail(`syntax error${typeof e.position === 'number' ? ` at position ${e.position}` : ''}: ${e.message ?? String(err)}`);
  }
  const ast = expression.ast();
  checkAst(site, ast, env.tables);
  const direct = directRead(ast);
  if (direct !== undefined) return { evaluate: (_root, bindings) => direct(bindings) };
  expression.registerFunction('table', tableFunction(env.tables), '<sx?x?:x>');
  expression.registerFunction('formatDate', formatDate, '<x-s?s?:s>');
  return {
    evaluate: (root, bindings) => expression.evaluate(root, bindings as unknown as Record<string, unknown>),
  };
}

/** Bindings whose values hold no lists, so a plain property walk gives what JSONata would. */
const LIST_FREE_BINDINGS = new Set<string>(['call', 'matches', 'source', 'id']);

/**
 * `$call.caller.name`, `$matches`: a read of a list-free binding needs none of JSONata's
 * machinery, and skipping it saves a few µs per field (bench/mapping.ts). Anything else,
 * including any read of the record, goes through JSONata.
 */
function directRead(ast: jsonata.ExprNode): ((b: ExpressionBindings) => unknown) | undefined {
  const plainStep = (step: jsonata.ExprNode): boolean => Object.keys(step).every((k) => k === 'type' || k === 'value' || k === 'position');
  let head: jsonata.ExprNode | undefined;
  let names: string[] = [];
  if (ast.type === 'variable') head = ast;
  else if ((ast as { type: string }).type === 'path' && ast.steps !== undefined && ast.steps.every(plainStep)) {
    const [first, ...rest] = ast.steps;
    if (first?.type !== 'variable' || !rest.every((s) => s.type === 'name')) return undefined;
    head = first;
    names = rest.map((s) => String(s.value));
  }
  if (head === undefined || !plainStep(head) || !LIST_FREE_BINDINGS.has(String(head.value))) return undefined;
  const binding = String(head.value) as keyof ExpressionBindings;
  return (b) => {
    let cur: unknown = b[binding];
    for (const name of names) {
      if (cur === null || typeof cur !== 'object' || !Object.prototype.hasOwnProperty.call(cur, name)) return undefined;
      cur = (cur as Record<string, unknown>)[name];
    }
    return cur;
  };
}

interface Use {
  name: string;
  position: number | undefined;
}

function checkAst(site: ConfigSite, ast: jsonata.ExprNode, tables: Tables): void {
  const calls: Use[] = [];
  const reads: Use[] = [];
  const bound = new Set<string>();
  const tableCalls: jsonata.ExprNode[] = [];

  const seen = new Set<object>();
  const walk = (node: unknown): void => {
    if (node === null || typeof node !== 'object' || seen.has(node)) return;
    seen.add(node);
    if (Array.isArray(node)) {
      for (const item of node) walk(item);
      return;
    }
    const n = node as jsonata.ExprNode & { index?: unknown; focus?: unknown; body?: unknown };
    if ((n.type === 'function' || n.type === 'partial') && n.procedure?.type === 'variable') {
      calls.push({ name: String(n.procedure.value), position: n.procedure.position });
      if (n.procedure.value === 'table') tableCalls.push(n);
      seen.add(n.procedure); // a call, not a read
    } else if (n.type === 'variable') {
      reads.push({ name: String(n.value), position: n.position });
    }
    if ((n as { type: string }).type === 'bind' && !Array.isArray(n.lhs) && n.lhs?.type === 'variable') bound.add(String(n.lhs.value));
    if (n.type === 'lambda') for (const arg of n.arguments ?? []) if (arg.type === 'variable') bound.add(String(arg.value));
    if (typeof n.index === 'string') bound.add(n.index); // `orders#$i`
    if (typeof n.focus === 'string') bound.add(n.focus); // `orders@$o`
    for (const value of Object.values(n)) walk(value);
  };
  walk(ast);

  for (const call of calls) {
    const at = call.position === undefined ? '' : ` (position ${call.position})`;
    const why = FORBIDDEN_FUNCTIONS.get(call.name);
    if (why !== undefined) site.fail(`function $${call.name} is not allowed: ${why}`);
    if (!KNOWN_FUNCTIONS.has(call.name) && !bound.has(call.name)) site.fail(`unknown function $${call.name}${at}`);
  }
  for (const read of reads) {
    // Reading a forbidden function (to pass it to `$map`, or to rebind it) is as bad as calling it.
    const why = FORBIDDEN_FUNCTIONS.get(read.name);
    if (why !== undefined) site.fail(`function $${read.name} is not allowed: ${why}`);
    if (!KNOWN_VARIABLES.has(read.name) && !bound.has(read.name)) {
      const at = read.position === undefined ? '' : ` (position ${read.position})`;
      site.fail(`unknown variable $${read.name}${at}; bound are ${MAPPING_VARIABLES.map((v) => `$${v}`).join(', ')}`);
    }
  }
  for (const call of tableCalls) {
    const first = call.arguments?.[0];
    if (first?.type !== 'string') site.fail('$table needs the table name as a quoted string, e.g. $table(\'tiers\', tier)');
    const name = String(first.value);
    if (!tables.has(name)) {
      const known = [...tables.keys()];
      site.fail(`unknown table '${name}'; ${known.length === 0 ? 'mapping.tables is empty' : `known tables: ${known.join(', ')}`}`);
    }
  }
}
