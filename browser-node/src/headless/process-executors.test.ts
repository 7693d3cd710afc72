import { beforeAll } from 'vitest';
import type { ExecutorFixtures, ExecutorTestContext } from '../core/executor-tests/context.ts';
import { determinismExecutorTests } from '../core/executor-tests/determinism.ts';
import { isolationExecutorTests } from '../core/executor-tests/isolation.ts';
import { jsExecutorTests } from '../core/executor-tests/js.ts';
import { pythonExecutorTests } from '../core/executor-tests/python.ts';
import { wasmExecutorTests } from '../core/executor-tests/wasm.ts';
import { buildExecutorFixtures } from './executor-fixtures.ts';
import { ProcessExecutor } from './process-executor.ts';

// The executor test list (core/executor-tests/) against sandbox child processes, the headless
// node's default (`executors.test.ts` runs it against worker threads, `--isolation thread`).
let fixtures: ExecutorFixtures;
beforeAll(async () => {
  fixtures = await buildExecutorFixtures();
}, 120_000);

const context: ExecutorTestContext = {
  host: 'node',
  create: ({ capacity, warmMemoryMb, prewarm }) =>
    new ProcessExecutor({ processes: capacity, warmMemoryMb, prewarm }),
  fixtures: () => fixtures,
};

jsExecutorTests(context);
wasmExecutorTests(context);
pythonExecutorTests(context);
isolationExecutorTests(context);
determinismExecutorTests(context);
