import { loader } from '@monaco-editor/react';
import * as monaco from 'monaco-editor';
import EditorWorker from 'monaco-editor/editor/editor.worker.js?worker';
import TsWorker from 'monaco-editor/language/typescript/ts.worker.js?worker';

// Monaco from our own bundle, never from a CDN (@monaco-editor/react's default). Its language
// workers are bundled too: the TypeScript worker serves JavaScript and AssemblyScript, the
// plain editor worker everything else (Python has no worker).
self.MonacoEnvironment = {
  getWorker(_workerId: string, label: string) {
    return label === 'typescript' || label === 'javascript' ? new TsWorker() : new EditorWorker();
  },
};
loader.config({ monaco });

// AssemblyScript types (i32, u64, process, String.UTF8…) are not TypeScript's: no red squiggles for them.
monaco.typescript.typescriptDefaults.setDiagnosticsOptions({ noSemanticValidation: true });

// circom (the circuit templates of "Zero-knowledge proof" mode): keywords, signal operators,
// comments, numbers and strings. Monaco has no circom grammar of its own.
monaco.languages.register({ id: 'circom', extensions: ['.circom'], aliases: ['circom'] });
monaco.languages.setMonarchTokensProvider('circom', {
  keywords: [
    'pragma',
    'circom',
    'include',
    'template',
    'function',
    'component',
    'main',
    'public',
    'signal',
    'input',
    'output',
    'var',
    'for',
    'while',
    'if',
    'else',
    'return',
    'log',
    'assert',
    'parallel',
    'custom',
  ],
  tokenizer: {
    root: [
      [/\/\/.*$/, 'comment'],
      [/\/\*/, 'comment', '@comment'],
      [/"[^"]*"/, 'string'],
      [/<==|==>|<--|-->|===/, 'keyword.operator'],
      [/\b\d+\b/, 'number'],
      [/[A-Za-z_]\w*/, { cases: { '@keywords': 'keyword', '@default': 'identifier' } }],
    ],
    comment: [
      [/\*\//, 'comment', '@pop'],
      [/./, 'comment'],
    ],
  },
});

export { monaco };
