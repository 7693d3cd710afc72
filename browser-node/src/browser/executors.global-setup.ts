import type { TestProject } from 'vitest/node';
import { encodeFixtures } from '../core/executor-tests/context.ts';
import { buildExecutorFixtures } from '../headless/executor-fixtures.ts';

/** Runs in Node before the browser project: builds the test programs and hands them to the page. */
export default async function setup(project: TestProject): Promise<void> {
  project.provide('executorFixtures', encodeFixtures(await buildExecutorFixtures()));
}

declare module 'vitest' {
  export interface ProvidedContext {
    executorFixtures: string;
  }
}
