import { type Node, type Program, parse } from 'acorn';

/**
 * A user's ES module rewritten as a script that an SES `Compartment#evaluate` can run without a
 * module loader. Its completion value is a promise of the module's default export.
 */
export interface CompiledJsModule {
  script: string;
  /** The `//# sourceURL` of `script`, i.e. the file name its stack frames carry. */
  sourceUrl: string;
  /** Characters the wrapper adds in front of line 1; columns on line 1 are shifted by this much. */
  line1Offset: number;
}

export interface CompileJsModuleOptions {
  /** Name of the code in stack traces; default `task.js`. */
  sourceUrl?: string;
}

/** The source cannot become a task: syntax error, imports, or no default export. */
export class JsModuleError extends Error {
  override readonly name = 'JsModuleError';
  /** 1-based, like the positions in a V8 stack trace. Absent when the error has no one place. */
  readonly line: number | undefined;
  readonly column: number | undefined;

  constructor(message: string, position?: { line: number; column: number }) {
    super(position ? `${message} at ${position.line}:${position.column}` : message);
    this.line = position?.line;
    this.column = position?.column;
  }
}

const IMPORTS_UNAVAILABLE = 'user code must be self-contained: imports are not available in the sandbox';
const LINE_TERMINATORS = /\r\n|[\n\r\u2028\u2029]/g;

/**
 * Rewrites a module so it evaluates as a script:
 *
 * - `export default <expr>` and anonymous default functions/classes become a constant whose
 *   value is read at the end (they keep the name `default`, as in a real module);
 * - `export default function f…`, `export { f as default }` return the binding `f` at the end;
 * - `export const/let/var/function/class` lose the `export` keyword;
 * - `import`, `import()`, `import.meta` and `export … from` are rejected: there is no loader.
 *
 * The body runs inside an async function so top-level `await` works and `this` is `undefined` as
 * in a module. Every removed piece of text leaves its line breaks behind and the wrapper's prefix
 * sits on line 1, so line numbers in stack traces are the user's own.
 *
 * @example
 * const { script } = compileJsModule('export default (x) => x * 2');
 * const main = await compartment.evaluate(script); // main(21) === 42
 */
export function compileJsModule(source: string, options: CompileJsModuleOptions = {}): CompiledJsModule {
  const sourceUrl = options.sourceUrl ?? 'task.js';
  if (!/^[\w./:@-]+$/.test(sourceUrl)) throw new TypeError(`invalid sourceUrl: ${sourceUrl}`);

  let program: Program;
  try {
    // preserveParens: `export default (a, b)` must keep its parentheses when its text is moved.
    program = parse(source, {
      ecmaVersion: 'latest',
      sourceType: 'module',
      locations: true,
      preserveParens: true,
    });
  } catch (error) {
    throw syntaxError(error);
  }

  const referenced = identifiersOf(program);

  const edits: Edit[] = [];
  // A hashbang is only legal at the very start of the source, which the wrapper no longer is.
  if (source.startsWith('#!')) edits.push({ start: 0, end: 2, text: '//' });

  // Short, so that `export default ` (15 characters) can become `$d={default:` in place.
  const defaultName = uniqueName(source, '$d');
  let defaultBinding: string | undefined;

  for (const node of program.body) {
    switch (node.type) {
      case 'ImportDeclaration':
      case 'ExportAllDeclaration':
        throw new JsModuleError(IMPORTS_UNAVAILABLE, startOf(node));
      case 'ExportNamedDeclaration': {
        if (node.source) throw new JsModuleError(IMPORTS_UNAVAILABLE, startOf(node));
        if (node.declaration) {
          edits.push(remove(source, node.start, node.declaration.start));
          break;
        }
        for (const specifier of node.specifiers) {
          const exported =
            specifier.exported.type === 'Identifier' ? specifier.exported.name : specifier.exported.value;
          if (exported === 'default' && specifier.local.type === 'Identifier')
            defaultBinding = specifier.local.name;
        }
        edits.push(remove(source, node.start, node.end));
        break;
      }
      case 'ExportDefaultDeclaration': {
        const declaration = node.declaration;
        const named =
          (declaration.type === 'FunctionDeclaration' || declaration.type === 'ClassDeclaration') &&
          declaration.id;
        if (named) {
          edits.push(remove(source, node.start, declaration.start));
          defaultBinding = named.name;
        } else {
          // `{ default: … }.default` gives an anonymous function or class the name `default`,
          // which is what a real module would give it (and what stack traces then show).
          edits.push(remove(source, node.start, declaration.start, `${defaultName}={default:`));
          edits.push(remove(source, declaration.end, node.end, '}.default;'));
          defaultBinding = defaultName;
        }
        break;
      }
    }
  }

  if (defaultBinding === undefined) {
    throw new JsModuleError(
      'the module has no default export: export the task function, e.g. `export default (input) => input`',
    );
  }

  let body = source;
  for (const edit of edits.sort((a, b) => b.start - a.start)) {
    body = body.slice(0, edit.start) + edit.text + body.slice(edit.end);
  }

  // Strict whatever the evaluator is (SES's is strict anyway): modules are strict. The standard
  // globals the module names are bound as constants in an outer function (see `LEXICAL_GLOBALS`);
  // the module's own top-level declarations, one function further in, may still shadow them.
  const hoisted = LEXICAL_GLOBALS.filter((name) => referenced.has(name));
  const outer = hoisted.length ? `const {${hoisted.join(',')}}=globalThis;` : '';
  const prefix = `(function () {'use strict';${outer}return (async function () {let ${defaultName};`;
  const suffix = `\n;return ${defaultBinding};\n})()})()\n//# sourceURL=${sourceUrl}\n`;
  return { script: prefix + body + suffix, sourceUrl, line1Offset: prefix.length };
}

interface Edit {
  start: number;
  end: number;
  text: string;
}

/**
 * Replaces `[start, end)` by `text`, then the line breaks of the removed text, then spaces, so that
 * whatever follows keeps its line and, when `text` is not longer than what it replaces, its column.
 */
function remove(source: string, start: number, end: number, text = ''): Edit {
  const removed = source.slice(start, end);
  const breaks = removed.match(LINE_TERMINATORS)?.join('') ?? '';
  if (breaks === '') return { start, end, text: text.padEnd(removed.length) };
  const lastLine = removed.split(LINE_TERMINATORS).at(-1) ?? '';
  return { start, end, text: text + breaks + ' '.repeat(lastLine.length) };
}

function uniqueName(source: string, base: string): string {
  let name = base;
  while (source.includes(name)) name += '_';
  return name;
}

function startOf(node: Node): { line: number; column: number } {
  const start = node.loc?.start ?? { line: 1, column: 0 };
  return { line: start.line, column: start.column + 1 };
}

/**
 * Standard globals every task compartment has, bound once per evaluation as constants of the
 * script's outer function when the module names them. The compartment's global object is frozen
 * (`makeCompartment`), so this reads what a free reference would read and an assignment to one
 * throws a TypeError either way. Why: a free reference inside code that SES evaluates is looked up
 * through the evaluator's `with` scopes (V8 checks every context on the way at each access), which
 * made a hot loop over `Math.sqrt` and `Math.sin` ~35% slower than outside the sandbox (measured
 * 225 against 165 ms a task); bound in the script's own scope, it costs what it costs natively.
 * Every name must be on every task's global object (`sandbox-escape.test.ts` checks it).
 */
export const LEXICAL_GLOBALS: readonly string[] = [
  'Array',
  'ArrayBuffer',
  'BigInt',
  'BigInt64Array',
  'BigUint64Array',
  'Boolean',
  'DataView',
  'Date',
  'Error',
  'EvalError',
  'Float32Array',
  'Float64Array',
  'Infinity',
  'Int8Array',
  'Int16Array',
  'Int32Array',
  'JSON',
  'Map',
  'Math',
  'NaN',
  'Number',
  'Object',
  'Promise',
  'Proxy',
  'RangeError',
  'ReferenceError',
  'Reflect',
  'RegExp',
  'Set',
  'String',
  'Symbol',
  'SyntaxError',
  'TypeError',
  'URIError',
  'Uint8Array',
  'Uint8ClampedArray',
  'Uint16Array',
  'Uint32Array',
  'WeakMap',
  'WeakSet',
  'console',
  'decodeURI',
  'decodeURIComponent',
  'encodeURI',
  'encodeURIComponent',
  'isFinite',
  'isNaN',
  'parseFloat',
  'parseInt',
];

/**
 * Every identifier name in the module (a superset of its free references), after checking that it
 * has no `import()` or `import.meta`: those can sit anywhere, so the whole tree is searched.
 */
function identifiersOf(program: Program): Set<string> {
  const names = new Set<string>();
  const stack: unknown[] = [program];
  while (stack.length > 0) {
    const value = stack.pop();
    if (Array.isArray(value)) {
      stack.push(...value);
      continue;
    }
    if (typeof value !== 'object' || value === null || typeof (value as Node).type !== 'string') continue;
    const node = value as Node & { meta?: { name?: string }; name?: string };
    if (node.type === 'Identifier' && node.name) names.add(node.name);
    if (node.type === 'ImportExpression' || (node.type === 'MetaProperty' && node.meta?.name === 'import')) {
      throw new JsModuleError(IMPORTS_UNAVAILABLE, startOf(node));
    }
    for (const [key, child] of Object.entries(node)) {
      if (key !== 'loc' && typeof child === 'object' && child !== null) stack.push(child);
    }
  }
  return names;
}

/** Acorn's SyntaxError carries `loc` (0-based column) and appends `(line:column)` to its message. */
function syntaxError(error: unknown): JsModuleError {
  if (error instanceof SyntaxError) {
    const loc = (error as SyntaxError & { loc?: { line: number; column: number } }).loc;
    const message = error.message.replace(/ \(\d+:\d+\)$/, '');
    return new JsModuleError(`SyntaxError: ${message}`, loc && { line: loc.line, column: loc.column + 1 });
  }
  return new JsModuleError(`cannot parse the module: ${String(error)}`);
}
