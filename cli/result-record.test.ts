import { describe, expect, test } from 'vitest';
import type { TaskResult } from '../protocol/index.ts';
import { formatFailure, formatTaskLogs, toResultRecord } from './result-record.ts';

const failed: TaskResult = {
  index: 3,
  state: 'failed',
  error: { kind: 'user_error', message: 'Error: boom', stack: 'Error: boom\n    at main (task.js:3:11)' },
  attempts: 1,
  nodeId: 'headless-1',
  durationMs: 1.25,
  logs: 'about to fail\n',
};

describe('result records', () => {
  test('default: a success is index and output only', () => {
    expect(toResultRecord({ index: 0, state: 'succeeded', output: 4, attempts: 1, logs: 'x' })).toEqual({
      index: 0,
      output: 4,
    });
    expect(toResultRecord({ index: 1, state: 'succeeded', attempts: 1 })).toEqual({ index: 1, output: null });
  });

  test('behavior: a failure carries its error and logs; a cancelled task its state', () => {
    expect(toResultRecord(failed)).toEqual({ index: 3, error: failed.error, logs: 'about to fail\n' });
    expect(toResultRecord({ index: 5, state: 'cancelled', attempts: 0 })).toEqual({
      index: 5,
      state: 'cancelled',
    });
  });

  test('behavior: failures for people show kind, remote stack and logs', () => {
    expect(formatFailure(failed)).toBe(
      [
        'task 3 failed: user_error (attempt 1, node headless-1)',
        '  Error: boom',
        '      at main (task.js:3:11)',
        '  logs:',
        '    about to fail',
      ].join('\n'),
    );
    expect(
      formatFailure({
        index: 1,
        state: 'failed',
        attempts: 0,
        error: { kind: 'timeout', message: 'too slow' },
      }),
    ).toBe('task 1 failed: timeout\n  too slow');
  });

  test('behavior: logs of one task', () => {
    expect(formatTaskLogs(failed)).toBe(
      [
        '── task 3 · failed · 1 attempt · node headless-1 · 1.3 ms',
        'error: user_error',
        '  Error: boom',
        '      at main (task.js:3:11)',
        'logs:',
        '  about to fail',
      ].join('\n'),
    );
    expect(formatTaskLogs({ index: 0, state: 'succeeded', attempts: 2, output: 1 })).toBe(
      '── task 0 · succeeded · 2 attempts\nlogs: (none)',
    );
  });
});

describe('verbose result records', () => {
  const verified: TaskResult = {
    index: 1,
    state: 'succeeded',
    output: 2,
    attempts: 1,
    verification: {
      policy: { kind: 'fixed', redundancy: 2 },
      how: 'quorum',
      confidence: 0.9411764705882353,
      replicas: [
        { identity: 'peer:a', nodeId: 'a', peerId: 'a', answer: 'bafk1', credibility: 0.8, agreed: true },
        {
          identity: 'wallet:0xb',
          nodeId: 'b',
          peerId: 'b',
          answer: 'bafk2',
          credibility: 0.8,
          agreed: false,
        },
      ],
      digest: 'ab'.repeat(32),
    },
  };
  test('default: --verbose adds how the result was verified, with every replica', () => {
    expect(toResultRecord(verified, true)).toEqual({
      index: 1,
      output: 2,
      verified: {
        how: 'quorum',
        confidence: 0.941176,
        replicas: [
          { identity: 'peer:a', nodeId: 'a', answer: 'bafk1', agreed: true },
          { identity: 'wallet:0xb', nodeId: 'b', answer: 'bafk2', agreed: false },
        ],
        digest: 'ab'.repeat(32),
      },
    });
  });
  test('behavior: a spot check and a task verified again say so', () => {
    const again = {
      ...verified,
      verification: { ...verified.verification!, spotCheck: true, reverified: true },
    };
    expect(toResultRecord(again, true).verified).toMatchObject({ spotCheck: true, reverified: true });
    expect(toResultRecord(verified, true).verified).not.toHaveProperty('reverified');
  });
  test('default: without --verbose, or without a record, the line is as before', () => {
    expect(toResultRecord(verified)).toEqual({ index: 1, output: 2 });
    expect(toResultRecord({ ...verified, verification: undefined } as TaskResult, true)).toEqual({
      index: 1,
      output: 2,
    });
  });
});
