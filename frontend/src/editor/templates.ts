import piJsInputs from '../../../templates/js/monte-carlo-pi.inputs.jsonl?raw';
import piJs from '../../../templates/js/monte-carlo-pi.js?raw';
import wordsJsInputs from '../../../templates/js/word-frequency.inputs.jsonl?raw';
import wordsJs from '../../../templates/js/word-frequency.js?raw';
import piPyInputs from '../../../templates/python/monte-carlo-pi.inputs.jsonl?raw';
import piPy from '../../../templates/python/monte-carlo-pi.py?raw';
import wordsPyInputs from '../../../templates/python/word-frequency.inputs.jsonl?raw';
import wordsPy from '../../../templates/python/word-frequency.py?raw';
import collatzAs from '../../../templates/wasm-as/collatz.ts?raw';

/** What the editor edits: the three runtimes, with WebAssembly written in AssemblyScript. */
export type EditorRuntime = 'js' | 'python' | 'wasm';

export interface Template {
  id: string;
  name: string;
  runtime: EditorRuntime;
  code: string;
  /** Example inputs as JSON lines (the template's `.inputs.jsonl`). */
  inputs: string;
}

/** JSON lines → the pretty JSON array the inputs box shows. */
const asArray = (jsonl: string) =>
  `[\n${jsonl
    .split('\n')
    .filter((l) => l.trim())
    .map((l) => `  ${l.trim()}`)
    .join(',\n')}\n]`;

/** The templates of templates/, straight from the repository (no copies). */
export const TEMPLATES: readonly Template[] = [
  { id: 'js-pi', name: 'Monte Carlo π', runtime: 'js', code: piJs, inputs: asArray(piJsInputs) },
  { id: 'js-words', name: 'Word frequency', runtime: 'js', code: wordsJs, inputs: asArray(wordsJsInputs) },
  { id: 'py-pi', name: 'Monte Carlo π', runtime: 'python', code: piPy, inputs: asArray(piPyInputs) },
  {
    id: 'py-words',
    name: 'Word frequency',
    runtime: 'python',
    code: wordsPy,
    inputs: asArray(wordsPyInputs),
  },
  {
    id: 'as-collatz',
    name: 'Collatz statistics (AssemblyScript)',
    runtime: 'wasm',
    code: collatzAs,
    // templates/wasm-as has no inputs file; these ranges are the ones its header documents.
    inputs: asArray('{"from":1,"to":100000}\n{"from":100000,"to":200000}\n{"from":200000,"to":300000}'),
  },
];

export const RUNTIME_LABELS: Record<EditorRuntime, string> = {
  js: 'JavaScript',
  python: 'Python',
  wasm: 'WebAssembly',
};

/** Monaco's language id for each runtime (AssemblyScript is TypeScript syntax). */
export const MONACO_LANGUAGE: Record<EditorRuntime, string> = {
  js: 'javascript',
  python: 'python',
  wasm: 'typescript',
};

export const templatesFor = (runtime: EditorRuntime) => TEMPLATES.filter((t) => t.runtime === runtime);
