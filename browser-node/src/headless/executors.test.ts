import { beforeAll, describe } from 'vitest';
import { circomExecutorTests } from '../core/executor-tests/circom.ts';
import type { ExecutorFixtures, ExecutorTestContext } from '../core/executor-tests/context.ts';
import { determinismExecutorTests } from '../core/executor-tests/determinism.ts';
import { isolationExecutorTests } from '../core/executor-tests/isolation.ts';
import { jsExecutorTests } from '../core/executor-tests/js.ts';
import { pythonExecutorTests } from '../core/executor-tests/python.ts';
import { wasmExecutorTests } from '../core/executor-tests/wasm.ts';
import { buildExecutorFixtures } from './executor-fixtures.ts';
import { ProcessExecutor } from './process-executor.ts';
import { ThreadExecutor } from './thread-executor.ts';

// The executor test list (core/executor-tests/) under Node, against both headless hosts: sandbox
// child processes (the node's default) and worker threads (`--isolation thread`); the same list
// runs against Web Workers in headless Chromium (browser/executors.browser.test.ts).
let fixtures: ExecutorFixtures;
beforeAll(async () => {
  fixtures = await buildExecutorFixtures();
}, 120_000);

const hosts: [string, ExecutorTestContext['create']][] = [
  [
    'sandbox processes',
    ({ capacity, warmMemoryMb, prewarm }) =>
      new ProcessExecutor({ processes: capacity, warmMemoryMb, prewarm }),
  ],
  [
    'worker threads',
    ({ capacity, warmMemoryMb, prewarm }) => new ThreadExecutor({ threads: capacity, warmMemoryMb, prewarm }),
  ],
];

for (const [name, create] of hosts) {
  describe(name, () => {
    const context: ExecutorTestContext = { host: 'node', create, fixtures: () => fixtures };
    jsExecutorTests(context);
    wasmExecutorTests(context);
    pythonExecutorTests(context);
    isolationExecutorTests(context);
    determinismExecutorTests(context);
    circomExecutorTests(context);
  });
}
