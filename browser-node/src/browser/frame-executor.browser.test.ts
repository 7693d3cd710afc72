import { afterEach, describe, expect, test } from 'vitest';
import { FRAME_BEAT_MS, SANDBOX_FRAME_PROTOCOL } from '../../../protocol/sandbox-frame.ts';
import type { ExecRequest } from '../core/executor.ts';
import { FrameExecutor } from './frame-executor.ts';

// The FrameExecutor's bookkeeping, against a stand-in frame that speaks the frame protocol: it
// echoes a task's input, never answers `hang`, and on `die` stops answering and beating at all, as
// a frame whose renderer crashed. (Real crashes of a real frame of another site, on the real
// mesh: test/e2e/tab-memory-budget.test.ts.)

const FAKE_FRAME = `<!doctype html><script>
addEventListener('message', (event) => {
  if (event.data?.protocol !== '${SANDBOX_FRAME_PROTOCOL}') return;
  const port = event.ports[0];
  let dead = false;
  const beat = setInterval(() => dead || port.postMessage({ type: 'beat' }), ${FRAME_BEAT_MS});
  if (location.hash === '#garbage') port.postMessage({ type: 'nonsense' });
  port.postMessage({ type: 'ready', runtimes: ['js', 'wasm', 'python'], capacity: event.data.workers });
  port.onmessage = (m) => {
    if (dead || m.data.type !== 'run') return;
    if (m.data.code === 'die') { dead = true; clearInterval(beat); return; }
    if (m.data.code === 'hang') return;
    const wait = Number(m.data.code.split(':')[1] ?? 0);
    setTimeout(() => dead || port.postMessage({ type: 'result', id: m.data.id, ok: true, outputJson: m.data.inputJson, logs: '', durationMs: wait }), wait);
  };
});
</script>`;

const frameUrl = (hash = '') => URL.createObjectURL(new Blob([FAKE_FRAME], { type: 'text/html' })) + hash;

const task = (code: string, input: number): ExecRequest => ({
  runtime: 'js',
  code,
  codeCid: 'cid',
  input,
  timeoutMs: 30_000,
  memoryMb: 64,
  seed: 's',
  clock: 0,
});

const executors: FrameExecutor[] = [];
afterEach(async () => {
  for (const e of executors.splice(0)) await e.close();
});

function executor(options: Partial<ConstructorParameters<typeof FrameExecutor>[0]> = {}): FrameExecutor {
  const e = new FrameExecutor({
    sandboxOrigin: location.origin,
    framePath: frameUrl(),
    workers: 3,
    silenceMs: 600,
    ...options,
  });
  executors.push(e);
  return e;
}

const frames = () => document.querySelectorAll('iframe[title="MonadMesh sandbox"]').length;

describe('FrameExecutor', () => {
  test('default: tasks run in the frame and come back decoded', async () => {
    const e = executor();
    const results = await Promise.all([1, 2, 3, 4].map((x) => e.run(task('ok:20', x))));
    expect(results.map((r) => r.ok && r.output)).toEqual([1, 2, 3, 4]);
    expect(e.lost).toBe(0);
    expect(frames()).toBe(1);
  });

  test('error: a task alone in a frame that dies is memory_limit; the next task gets a new frame', async () => {
    const e = executor();
    const bomb = await e.run(task('die', 1));
    expect(bomb).toMatchObject({ ok: false, error: { kind: 'memory_limit' } });
    expect(e).toMatchObject({ lost: 1, rerunAlone: 0 });
    expect(await e.run(task('ok', 7))).toMatchObject({ ok: true, output: 7 });
    expect(frames()).toBe(1);
  });

  test('error: a frame dies with three tasks in it: each runs again alone, only the culprit fails', async () => {
    const e = executor();
    const running = [e.run(task('ok:300', 1)), e.run(task('die', 2)), e.run(task('ok:300', 3))];
    // Sent while the suspects are run again: waits for them, then runs.
    await new Promise((r) => setTimeout(r, 100));
    const later = e.run(task('ok', 4));
    const results = await Promise.all([...running, later]);
    expect(results.map((r) => (r.ok ? r.output : r.error.kind))).toEqual([1, 'memory_limit', 3, 4]);
    expect(e).toMatchObject({ lost: 2, rerunAlone: 3 });
  });

  test('error: two culprits in one frame, beside an honest task, after an earlier loss: each is found', async () => {
    const e = executor();
    expect(await e.run(task('die', 0))).toMatchObject({ ok: false, error: { kind: 'memory_limit' } });
    const results = await Promise.all([
      e.run(task('die', 1)),
      e.run(task('ok:50', 2)),
      e.run(task('die', 3)),
    ]);
    expect(results.map((r) => (r.ok ? r.output : r.error.kind))).toEqual(['memory_limit', 2, 'memory_limit']);
    expect(e).toMatchObject({ lost: 4, rerunAlone: 3 });
  });

  test('behavior: a page stopped longer than the silence does not take its live frame for dead', async () => {
    const e = executor({ silenceMs: 400 });
    const slow = e.run(task('ok:1500', 5));
    await new Promise((r) => setTimeout(r, 200));
    const until = performance.now() + 1500;
    while (performance.now() < until) {
      // the page's main thread is stopped: no timers, no messages
    }
    expect(await slow).toMatchObject({ ok: true, output: 5 });
    expect(e.lost).toBe(0);
  });

  test('error: a frame that never answers fails its tasks as node_error, blaming none', async () => {
    const e = executor({
      framePath: URL.createObjectURL(new Blob(['<p>nothing here</p>'], { type: 'text/html' })),
      startupTimeoutMs: 800,
    });
    const results = await Promise.all([e.run(task('ok', 1)), e.run(task('ok', 2))]);
    for (const r of results)
      expect(r).toMatchObject({
        ok: false,
        error: { kind: 'node_error', message: expect.stringMatching(/did not start/) },
      });
  });

  test('error: a frame that sends a malformed message is dropped, and its task fails as node_error', async () => {
    const e = executor({ framePath: frameUrl('#garbage') });
    const result = await e.run(task('ok', 1));
    expect(result).toMatchObject({ ok: false, error: { kind: 'node_error' } });
    expect(e.lost).toBeGreaterThanOrEqual(1);
  });

  test('behavior: aborting a queued or running task ends it as aborted', async () => {
    const e = executor({ workers: 1 });
    const first = new AbortController();
    const second = new AbortController();
    const running = e.run(task('hang', 1), first.signal);
    const queued = e.run(task('ok', 2), second.signal);
    second.abort();
    expect(await queued).toMatchObject({ ok: false, error: { kind: 'node_error', message: 'aborted' } });
    first.abort();
    await e.close();
    expect(await running).toMatchObject({ ok: false, error: { kind: 'node_error' } });
  });
});
