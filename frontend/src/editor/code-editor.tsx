import Editor from '@monaco-editor/react';
import './monaco-setup.ts';
import { Loading } from '../ui/status.tsx';

/**
 * The Monaco editor for one runtime's code. Tab moves focus out when Ctrl+M toggles tab trapping
 * (Monaco's own accessibility shortcut), so the page stays keyboard-usable.
 */
export function CodeEditor({
  language,
  value,
  onChange,
  label,
  readOnly = false,
}: {
  language: string;
  value: string;
  onChange(value: string): void;
  label: string;
  readOnly?: boolean;
}) {
  return (
    <div className="code-editor" data-testid="code-editor">
      <Editor
        height="100%"
        language={language}
        value={value}
        theme="vs-dark"
        loading={<Loading>Loading the editor…</Loading>}
        onChange={(v) => onChange(v ?? '')}
        options={{
          ariaLabel: label,
          readOnly,
          minimap: { enabled: false },
          fontSize: 14,
          scrollBeyondLastLine: false,
          automaticLayout: true,
          tabSize: 4,
          wordWrap: 'on',
        }}
      />
    </div>
  );
}
