import { describe, expect, test } from 'vitest';
import type { JsonValue } from '../../../protocol/index.ts';
import type { ExecRequest, ExecResult, Executor } from './executor.ts';
import { parseSaboteur, perturb, SaboteurExecutor } from './saboteur.ts';

const honest: Executor = {
  runtimes: ['js'],
  capacity: 1,
  run: async (r: ExecRequest): Promise<ExecResult> =>
    r.input === 'fail'
      ? { ok: false, error: { kind: 'user_error', message: 'no' }, logs: '', durationMs: 1 }
      : { ok: true, output: r.input, logs: '', durationMs: 1 },
  close: async () => {},
};
const request = (input: JsonValue, seed = 's'): ExecRequest => ({
  runtime: 'js',
  code: '',
  codeCid: 'c',
  input,
  timeoutMs: 1000,
  memoryMb: 64,
  seed,
  clock: 0,
});

describe('SaboteurExecutor', () => {
  test('perturb never returns an equal value', () => {
    for (const v of [
      0,
      1.5,
      -3,
      'a',
      '',
      true,
      false,
      null,
      [],
      [1, 2],
      {},
      { a: 1 },
      [[{ b: 'x' }]],
    ] as JsonValue[]) {
      expect(JSON.stringify(perturb(v, 7))).not.toBe(JSON.stringify(v));
    }
  });

  test('rate 0 is honest, rate 1 always lies (a changed output, a made-up failure, or an output for a failure)', async () => {
    const none = new SaboteurExecutor(honest, 0, 'peer');
    expect(await none.run(request(5))).toMatchObject({ ok: true, output: 5 });
    const liar = new SaboteurExecutor(honest, 1, 'peer');
    for (let i = 0; i < 50; i++) {
      const r = await liar.run(request(i, `s${i}`));
      expect(r.ok ? r.output : r.error.kind).not.toBe(i);
    }
    expect((await liar.run(request('fail'))).ok).toBe(true);
    expect(liar.lies).toBe(51);
  });

  test('made-up failures are of four kinds that count as answers, chosen by the node and task: two saboteurs seldom make up the same one', async () => {
    // random() below 0.125 picks a made-up failure for every task.
    const a = new SaboteurExecutor(honest, 1, 'peer-a', () => 0);
    const b = new SaboteurExecutor(honest, 1, 'peer-b', () => 0);
    const kinds = new Set<string>();
    let same = 0;
    for (let i = 0; i < 200; i++) {
      const [x, y] = [await a.run(request(i, `s${i}`)), await b.run(request(i, `s${i}`))];
      if (x.ok || y.ok) throw new Error('expected made-up failures');
      kinds.add(x.error.kind);
      if (x.error.kind === y.error.kind) same++;
    }
    expect([...kinds].sort()).toEqual(['memory_limit', 'output_invalid', 'timeout', 'user_error']);
    // One in four by chance; all of them with a single kind.
    expect(same).toBeLessThan(100);
  });

  test('two saboteurs tell different lies', async () => {
    const a = new SaboteurExecutor(honest, 1, 'peer-a', () => 0.5);
    const b = new SaboteurExecutor(honest, 1, 'peer-b', () => 0.5);
    const [x, y] = await Promise.all([a.run(request(10)), b.run(request(10))]);
    expect(x).not.toEqual(y);
  });

  test('a sleeper answers its first N tasks honestly, then lies at its rate', async () => {
    const sleeper = new SaboteurExecutor(honest, 1, 'peer', Math.random, 3);
    const outputs = [];
    for (let i = 0; i < 6; i++) {
      const r = await sleeper.run(request(i, `s${i}`));
      outputs.push(r.ok && r.output === i);
    }
    expect(outputs).toEqual([true, true, true, false, false, false]);
    expect(sleeper.lies).toBe(3);
  });

  test('a rate outside [0, 1] is refused', () => {
    expect(() => new SaboteurExecutor(honest, 2, 'p')).toThrow(/from 0 to 1/);
    expect(() => new SaboteurExecutor(honest, 1, 'p', Math.random, -1)).toThrow(/whole number/);
  });

  test('--saboteur takes RATE or RATE@N', () => {
    expect(parseSaboteur('0.3')).toEqual({ rate: 0.3, honestFirst: 0 });
    expect(parseSaboteur('1@40')).toEqual({ rate: 1, honestFirst: 40 });
    expect(parseSaboteur('.5')).toEqual({ rate: 0.5, honestFirst: 0 });
    for (const bad of ['', '2', '-0.1', 'x', '1@', '1@-3', '1@2.5', 'NaN', '0.3@1e3']) {
      expect(parseSaboteur(bad), bad).toBeUndefined();
    }
  });
});
