import { CST, Composer, Lexer, LineCounter, Parser, type Document } from 'yaml';
import { CallpopError } from '../model/errors.js';
import { configInvalid } from './config-invalid.js';
import { CONFIG_LIMITS, type ConfigLimits } from './config-limits.js';
import { checkYamlStructure } from './yaml-structure.js';

/**
 * Config text -> plain data, in time linear in the text and bounded by CONFIG_LIMITS, with
 * every failure a CallpopError (never a stack trace): SIGHUP runs this on the daemon's only
 * thread, so no file may stall it.
 */
export function parseConfigYaml(text: string, file: string, limits: ConfigLimits = CONFIG_LIMITS): unknown {
  const bytes = Buffer.byteLength(text, 'utf8');
  if (bytes > limits.maxBytes) throw tooLarge(file, `is ${bytes} bytes, more than the limit of ${limits.maxBytes} bytes`);

  const lines = new LineCounter();
  const doc = composeCounted(text, file, lines, limits);
  if (doc.errors.length > 0) {
    throw configInvalid(
      file,
      doc.errors.map((e) => {
        const pos = e.linePos?.[0];
        return pos ? `line ${pos.line}, column ${pos.col}: ${e.code} ${firstLine(e.message)}` : firstLine(e.message);
      }),
    );
  }
  const structure = checkYamlStructure(doc, lines, limits.maxDepth);
  if (structure.length > 0) throw configInvalid(file, structure.map((p) => p.message));

  try {
    return doc.toJS({ maxAliasCount: limits.maxAliasCount }) as unknown;
  } catch (err) {
    // yaml throws a ReferenceError for an alias bomb ("billion laughs"): a config mistake, not a crash.
    if (err instanceof ReferenceError) {
      throw configInvalid(file, [`too many alias expansions (more than ${limits.maxAliasCount}); a config needs few anchors (&name) and aliases (*name)`]);
    }
    throw err;
  }
}

/** Value tokens: each is one node of the document (plain and quoted scalars, aliases, flow collections). */
const VALUE_TOKENS: ReadonlySet<string> = new Set(['scalar', 'single-quoted-scalar', 'double-quoted-scalar', 'alias', 'flow-map-start', 'flow-seq-start']);

/**
 * yaml's parseDocument, driven token by token so values are counted while lexing and a file
 * past the limit is refused before the (slower) CST and composition work; and without
 * `uniqueKeys`, whose check is quadratic (checkYamlStructure does it in one pass).
 */
function composeCounted(text: string, file: string, lines: LineCounter, limits: ConfigLimits): Document.Parsed {
  const parser = new Parser(lines.addNewLine);
  const composer = new Composer({ uniqueKeys: false });
  let values = 0;
  // Flow nesting (`[[[...`) is cut here, before the composer recurses into it; block nesting
  // costs indentation, so the byte limit bounds it and checkYamlStructure reports it.
  let flowDepth = 0;
  function* tokens(): Generator<CST.Token> {
    lines.addNewLine(0);
    for (const lexeme of new Lexer().lex(text)) {
      const type = CST.tokenType(lexeme);
      if (type !== null && VALUE_TOKENS.has(type) && ++values > limits.maxNodes) {
        throw tooLarge(file, `has more than ${limits.maxNodes} values (keys, list items, scalars)`);
      }
      if (type === 'flow-map-start' || type === 'flow-seq-start') {
        if (++flowDepth > limits.maxDepth) throw configInvalid(file, [`${where(lines)}nested more than ${limits.maxDepth} levels deep`]);
      } else if (type === 'flow-map-end' || type === 'flow-seq-end') {
        flowDepth--;
      }
      yield* parser.next(lexeme);
    }
    yield* parser.end();
  }
  let doc: Document.Parsed | undefined;
  try {
    for (const next of composer.compose(tokens(), true, text.length)) {
      if (doc) throw configInvalid(file, ['the file holds several YAML documents (---); callpop reads one']);
      doc = next;
    }
  } catch (err) {
    // The composer recurses per nesting level; a pathologically deep file ends here, not in a crash.
    if (err instanceof RangeError) throw configInvalid(file, [`nested too deeply (more than ${limits.maxDepth} levels are refused)`]);
    throw err;
  }
  if (!doc) throw configInvalid(file, ['(top level): the file is empty']);
  for (const e of doc.errors) if (!e.linePos) e.linePos = [lines.linePos(e.pos[0]), lines.linePos(e.pos[1])];
  return doc;
}

/** The line being lexed (the LineCounter has seen every newline so far). */
function where(lines: LineCounter): string {
  return `line ${lines.lineStarts.length}: `;
}

function tooLarge(file: string, what: string): CallpopError {
  return new CallpopError('CALLPOP_CONFIG_TOO_LARGE', `${file}: the config file ${what}; split it or shorten its tables (limits: docs/operations.md)`);
}

function firstLine(message: string): string {
  return message.split('\n')[0] ?? message;
}
