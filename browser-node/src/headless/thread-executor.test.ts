import { afterAll, describe, expect, test } from 'vitest';
import type { JsonValue } from '../../../protocol/job.ts';
import type { ExecRequest } from '../core/executor.ts';
import { expectError, expectOk, taskRequest } from '../core/executor-tests/expect.ts';
import { ThreadExecutor } from './thread-executor.ts';

// One pool for the whole file: workers stay warm, as they do in a node.
const executor = new ThreadExecutor({ threads: 2, warmMemoryMb: 64 });
afterAll(() => executor.close());

const run = (code: string, input: JsonValue = null, overrides: Partial<ExecRequest> = {}) =>
  executor.run(taskRequest('js', code, input, overrides));

describe('ThreadExecutor: limits only a worker thread can enforce', () => {
  test('error: heap exhaustion is memory_limit, and the executor keeps working', async () => {
    const code = "export default () => { const a = []; for (let i = 0; ; i++) a.push('item ' + i); }";
    const error = expectError(await run(code, null, { memoryMb: 32, timeoutMs: 20_000 }), 'memory_limit');
    expect(error.message).toBe('task exceeded its memory limit of 32 MB');
    expect(expectOk(await run('export default (x) => x * 3', 3, { memoryMb: 32 }))).toBe(9);
  });

  test('error: off-heap memory (ArrayBuffers) counts too', async () => {
    const code = `export default () => {
        const keep = [];
        for (let i = 0; i < 1000; i++) { const b = new Uint8Array(16 * 1024 * 1024); b.fill(1); keep.push(b); }
        return keep.length;
      }`;
    const error = expectError(await run(code, null, { memoryMb: 64, timeoutMs: 20_000 }), 'memory_limit');
    expect(error.message).toBe('task exceeded its memory limit of 64 MB');
  });

  test('behavior: a task gets a worker with its own heap limit', async () => {
    // Arrays of doubles: 8 bytes per element on the V8 heap (String#repeat would build ropes).
    const code =
      'export default (mb) => { const a = []; for (let i = 0; i < mb * 16; i++) a.push(new Array(8192).fill(i + 0.5)); return a.length; }';
    expectError(await run(code, 80, { memoryMb: 32, timeoutMs: 20_000 }), 'memory_limit');
    expect(expectOk(await run(code, 80, { memoryMb: 128, timeoutMs: 20_000 }))).toBe(80 * 16);
  });
});
