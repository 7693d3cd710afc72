import { inject } from 'vitest';
import { circomExecutorTests } from '../core/executor-tests/circom.ts';
import { decodeFixtures, type ExecutorTestContext } from '../core/executor-tests/context.ts';
import { determinismExecutorTests } from '../core/executor-tests/determinism.ts';
import { isolationExecutorTests } from '../core/executor-tests/isolation.ts';
import { jsExecutorTests } from '../core/executor-tests/js.ts';
import { pythonExecutorTests } from '../core/executor-tests/python.ts';
import { wasmExecutorTests } from '../core/executor-tests/wasm.ts';
import { WebWorkerExecutor } from './web-worker-executor.ts';

// The executor test list (core/executor-tests/) against Web Workers in headless Chromium; the same
// list runs against worker threads under Node (headless/executors.test.ts). The test programs are
// built in Node by `executors.global-setup.ts`; Pyodide is served by the test server from
// node_modules, i.e. from the page's own origin.
const fixtures = decodeFixtures(inject('executorFixtures'));

const context: ExecutorTestContext = {
  host: 'browser',
  create: ({ capacity, warmMemoryMb, prewarm }) =>
    new WebWorkerExecutor({ workers: capacity, warmMemoryMb, prewarm, pyodideUrl: '/node_modules/pyodide/' }),
  fixtures: () => fixtures,
};

jsExecutorTests(context);
wasmExecutorTests(context);
pythonExecutorTests(context);
isolationExecutorTests(context);
determinismExecutorTests(context);
circomExecutorTests(context);
