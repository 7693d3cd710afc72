import { beforeAll } from 'vitest';
import type { ExecutorFixtures, ExecutorTestContext } from '../core/executor-tests/context.ts';
import { determinismExecutorTests } from '../core/executor-tests/determinism.ts';
import { isolationExecutorTests } from '../core/executor-tests/isolation.ts';
import { jsExecutorTests } from '../core/executor-tests/js.ts';
import { pythonExecutorTests } from '../core/executor-tests/python.ts';
import { wasmExecutorTests } from '../core/executor-tests/wasm.ts';
import { buildExecutorFixtures } from './executor-fixtures.ts';
import { ThreadExecutor } from './thread-executor.ts';

// The executor test list (core/executor-tests/) against worker threads under Node; the same list
// runs against Web Workers in headless Chromium (browser/executors.browser.test.ts).
let fixtures: ExecutorFixtures;
beforeAll(async () => {
  fixtures = await buildExecutorFixtures();
}, 120_000);

const context: ExecutorTestContext = {
  host: 'node',
  create: ({ capacity, warmMemoryMb, prewarm }) =>
    new ThreadExecutor({ threads: capacity, warmMemoryMb, prewarm }),
  fixtures: () => fixtures,
};

jsExecutorTests(context);
wasmExecutorTests(context);
pythonExecutorTests(context);
isolationExecutorTests(context);
determinismExecutorTests(context);
