import { afterAll, expect, test } from 'vitest';
import type { ExecRequest } from '../core/executor.ts';
import { WebWorkerExecutor } from './web-worker-executor.ts';

// JS memory bombs that V8 refuses before the heap fills (measured 2026-12-06, docs/architecture.md
// "Sandboxes in a tab"): a typed array too large to allocate and a string past V8's length limit
// fail their task as memory_limit inside the worker, and the same worker then runs an honest task.
// (A bomb that grows a heap of objects takes its renderer down instead: a contributing tab runs its
// sandboxes in a frame of another site for that; see test/e2e/tab-memory-budget.test.ts.)
const executor = new WebWorkerExecutor({ workers: 1, pyodideUrl: '/node_modules/pyodide/' });
afterAll(() => executor.close());

const js = (code: string, input: number): ExecRequest => ({
  runtime: 'js',
  code,
  codeCid: `test-${code.length}-${code.slice(-20)}`,
  input,
  timeoutMs: 30_000,
  memoryMb: 128,
  seed: 's',
  clock: 0,
});

test('error: a 16 GiB typed array fails its task and the worker runs the next', async () => {
  const bomb = await executor.run(js('export default () => new Float64Array(2 ** 31).fill(1).length', 1));
  expect(bomb.ok).toBe(false);
  if (!bomb.ok)
    expect(bomb.error).toMatchObject({
      kind: 'memory_limit',
      message: expect.stringMatching(/Array buffer allocation failed/),
    });
  const honest = await executor.run(js('export default (x) => x * 2', 21));
  expect(honest).toMatchObject({ ok: true, output: 42 });
});

test('error: string doubling fails its task and the worker runs the next', async () => {
  const bomb = await executor.run(
    js("export default () => { let s = 'x'; const keep = []; for (;;) { s += s; keep.push(s); } }", 1),
  );
  expect(bomb.ok).toBe(false);
  if (!bomb.ok)
    expect(bomb.error).toMatchObject({
      kind: 'memory_limit',
      message: expect.stringMatching(/Invalid string length/),
    });
  const honest = await executor.run(js('export default (x) => x + 1', 41));
  expect(honest).toMatchObject({ ok: true, output: 42 });
});
