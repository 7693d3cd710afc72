import { describe, expect, test, vi } from 'vitest';
import { PythonSandbox } from '../core/python-sandbox.ts';
import { loadLocalPyodide } from './load-local-pyodide.ts';

describe('loadLocalPyodide', () => {
  test('behavior: loads from node_modules without any network fetch', async () => {
    const fetchSpy = vi.fn(() => {
      throw new Error('no network');
    });
    vi.stubGlobal('fetch', fetchSpy);
    try {
      const started = performance.now();
      const pyodide = await loadLocalPyodide();
      const loadMs = performance.now() - started;
      expect(fetchSpy).not.toHaveBeenCalled();
      const sandbox = PythonSandbox.prepare(pyodide);
      const result = sandbox.run({
        type: 'run.python',
        id: 't',
        code: 'import sys\ndef main(x):\n    return sys.version_info[:2]',
        codeCid: 'c',
        inputJson: 'null',
        seed: 's',
        clock: 0,
      });
      expect(result).toMatchObject({ ok: true, outputJson: '[3,14]' });
      expect(loadMs).toBeLessThan(20_000);
    } finally {
      vi.unstubAllGlobals();
    }
  }, 60_000);
});
