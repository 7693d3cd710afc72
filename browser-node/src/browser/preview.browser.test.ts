import { afterAll, describe, expect, test } from 'vitest';
import { runPreview } from './preview.ts';
import { WebWorkerExecutor } from './web-worker-executor.ts';

// The editor's preview in a real tab: Web Workers, the same sandboxes as a browser compute node.
const executor = new WebWorkerExecutor({ workers: 2, pyodideUrl: '/node_modules/pyodide/' });
afterAll(() => executor.close());

describe('runPreview', () => {
  test('default: runs the first five inputs in this tab, in order, with outputs and logs', async () => {
    const tasks = await runPreview({
      runtime: 'js',
      code: 'export default (x) => { console.log("got", x); return x * x; }',
      inputs: [1, 2, 3, 4, 5, 6, 7],
    });
    expect(tasks.map((t) => t.index)).toEqual([0, 1, 2, 3, 4]);
    expect(tasks.map((t) => (t.result.ok ? t.result.output : null))).toEqual([1, 4, 9, 16, 25]);
    expect(tasks[2]?.result.logs).toBe('got 3\n');
  });

  test('behavior: Python, with maxInputs, seeded like tasks (preview:<index>) and deterministic', async () => {
    const spec = {
      runtime: 'python' as const,
      code: 'import random\ndef main(x):\n    print("input", x)\n    return [x, random.randint(0, 10**9)]',
      inputs: [10, 20, 30],
      timeoutMs: 10_000,
    };
    const first = await runPreview(spec, { executor, maxInputs: 2 });
    const again = await runPreview(spec, { executor, maxInputs: 2 });
    expect(first).toHaveLength(2);
    expect(first[1]?.result).toMatchObject({ ok: true, logs: 'input 20\n' });
    expect(JSON.stringify(again.map((t) => t.result.ok && t.result.output))).toBe(
      JSON.stringify(first.map((t) => t.result.ok && t.result.output)),
    );
    const [a, b] = first.map((t) => (t.result.ok ? (t.result.output as number[])[1] : -1));
    expect(a).not.toBe(b); // each input has its own seed
  }, 60_000);

  test('error: a syntax error and an exception come back readable, per input', async () => {
    const syntax = await runPreview(
      { runtime: 'python', code: 'def main(x)\n    return x', inputs: [1] },
      { executor },
    );
    expect(syntax[0]?.result).toMatchObject({
      ok: false,
      error: { kind: 'user_error', message: expect.stringMatching(/SyntaxError/) },
    });
    const thrown = await runPreview(
      {
        runtime: 'js',
        code: "export default (x) => { if (x > 1) throw new Error('too big: ' + x); return x; }",
        inputs: [1, 2],
      },
      { executor },
    );
    expect(thrown[0]?.result).toMatchObject({ ok: true, output: 1 });
    expect(thrown[1]?.result).toMatchObject({
      ok: false,
      error: { kind: 'user_error', message: 'Error: too big: 2', stack: expect.stringMatching(/task\.js:1/) },
    });
  }, 60_000);

  test('behavior: an aborted preview ends its running tasks at once', async () => {
    const controller = new AbortController();
    const pending = runPreview(
      { runtime: 'js', code: 'export default () => { for (;;) {} }', inputs: [1], timeoutMs: 30_000 },
      { executor, signal: controller.signal },
    );
    setTimeout(() => controller.abort(), 200);
    const [task] = await pending;
    expect(task?.result).toMatchObject({ ok: false, error: { kind: 'node_error', message: 'aborted' } });
  });
});
