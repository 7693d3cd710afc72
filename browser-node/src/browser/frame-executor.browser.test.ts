import { afterEach, describe, expect, test } from 'vitest';
import { FRAME_BEAT_MS, SANDBOX_FRAME_PROTOCOL } from '../../../protocol/sandbox-frame.ts';
import type { ExecRequest, Executor } from '../core/executor.ts';
import { FrameExecutor } from './frame-executor.ts';

// The FrameExecutor's bookkeeping, against a stand-in frame that speaks the frame protocol: it
// echoes a task's input (after `ok:<ms>`), never answers `hang`, answers `oom-if-shared` with
// memory_limit while another task runs beside it, and on `die` stops answering and beating at all,
// as a frame whose renderer crashed. (Real crashes of a real frame of another site, on the real
// mesh: test/e2e/tab-memory-budget.test.ts.)

const FAKE_FRAME = `<!doctype html><script>
addEventListener('message', (event) => {
  if (event.data?.protocol !== '${SANDBOX_FRAME_PROTOCOL}') return;
  const port = event.ports[0];
  let dead = false;
  const beat = setInterval(() => dead || port.postMessage({ type: 'beat' }), ${FRAME_BEAT_MS});
  if (location.hash === '#garbage') port.postMessage({ type: 'nonsense' });
  port.postMessage({ type: 'ready', runtimes: ['js', 'wasm', 'python'], capacity: event.data.workers });
  let running = 0;
  port.onmessage = (m) => {
    if (dead || m.data.type !== 'run') return;
    if (m.data.code === 'die') { dead = true; clearInterval(beat); return; }
    if (m.data.code === 'hang') return;
    const shared = running > 0;
    running++;
    const wait = Number(m.data.code.split(':')[1] ?? 0);
    setTimeout(() => {
      running--;
      if (dead) return;
      const oom = m.data.code.startsWith('oom-if-shared') && shared;
      port.postMessage(oom
        ? { type: 'result', id: m.data.id, ok: false, error: { kind: 'memory_limit', message: 'RangeError: Array buffer allocation failed' }, logs: '', durationMs: wait }
        : { type: 'result', id: m.data.id, ok: true, outputJson: m.data.inputJson, logs: '', durationMs: wait });
    }, wait);
  };
});
</script>`;

const frameUrl = (hash = '') => URL.createObjectURL(new Blob([FAKE_FRAME], { type: 'text/html' })) + hash;
const blankUrl = () => URL.createObjectURL(new Blob(['<p>nothing here</p>'], { type: 'text/html' }));

const task = (code: string, input: number): ExecRequest => ({
  runtime: 'js',
  code,
  codeCid: `cid-${code}`,
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
const outcome = (r: Awaited<ReturnType<FrameExecutor['run']>>) => (r.ok ? r.output : r.error.kind);

describe('FrameExecutor', () => {
  test('default: tasks run in the frame and come back decoded', async () => {
    const e = executor();
    const results = await Promise.all([1, 2, 3, 4].map((x) => e.run(task('ok:20', x))));
    expect(results.map(outcome)).toEqual([1, 2, 3, 4]);
    expect(e.lost).toBe(0);
    expect(frames()).toBe(1);
  });

  test('error: a task that takes its frame down, then a fresh one alone, is memory_limit; the next task gets a new frame', async () => {
    const e = executor();
    expect(await e.run(task('die', 1))).toMatchObject({ ok: false, error: { kind: 'memory_limit' } });
    // The first loss could have been the frame's own; the second, alone, is the task's.
    expect(e).toMatchObject({ lost: 2, rerunAlone: 1 });
    expect(await e.run(task('ok', 7))).toMatchObject({ ok: true, output: 7 });
    expect(frames()).toBe(1);
  });

  test('error: a frame dies with three tasks in it: each runs again alone, only the culprit fails', async () => {
    const e = executor();
    const running = [e.run(task('ok:300', 1)), e.run(task('die', 2)), e.run(task('ok:300', 3))];
    // Sent while the suspects are run again: waits for them, then runs.
    await new Promise((r) => setTimeout(r, 100));
    const later = e.run(task('ok', 4));
    expect((await Promise.all([...running, later])).map(outcome)).toEqual([1, 'memory_limit', 3, 4]);
    expect(e).toMatchObject({ lost: 2, rerunAlone: 3 });
  });

  test('error: code that took a frame down runs alone from then on: each later bomb costs one frame and no honest work', async () => {
    const e = executor();
    expect(outcome(await e.run(task('die', 0)))).toBe('memory_limit');
    const results = await Promise.all([
      e.run(task('die', 1)),
      e.run(task('ok:50', 2)),
      e.run(task('die', 3)),
      e.run(task('ok:50', 4)),
    ]);
    expect(results.map(outcome)).toEqual(['memory_limit', 2, 'memory_limit', 4]);
    expect(e).toMatchObject({ lost: 4, rerunAlone: 1 });
  });

  test('error: memory_limit while another task shared the frame is tried again alone', async () => {
    const e = executor();
    // The honest task is in the frame first; the other's allocation fails beside it.
    const honest = e.run(task('ok:300', 2));
    await new Promise((r) => setTimeout(r, 50));
    const results = await Promise.all([e.run(task('oom-if-shared:200', 1)), honest]);
    expect(results.map(outcome)).toEqual([1, 2]);
    expect(e).toMatchObject({ lost: 0, rerunAlone: 1 });
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
    const e = executor({ framePath: blankUrl(), startupTimeoutMs: 800 });
    const results = await Promise.all([e.run(task('ok', 1)), e.run(task('ok', 2))]);
    for (const r of results) {
      expect(r).toMatchObject({
        ok: false,
        error: { kind: 'node_error', message: expect.stringMatching(/did not start/) },
      });
    }
    expect(e).toMatchObject({ lost: 0, fallbackReason: undefined });
  });

  test('behavior: with a fallback, a frame that cannot start hands its tasks and the next ones to it', async () => {
    const ran: unknown[] = [];
    const fallback: Executor = {
      runtimes: ['js'],
      capacity: 1,
      run: async (request) => {
        ran.push(request.input);
        return { ok: true, output: request.input, logs: '', durationMs: 0 };
      },
      close: async () => {},
    };
    const e = executor({ framePath: blankUrl(), startupTimeoutMs: 800, fallback: () => fallback });
    expect((await Promise.all([e.run(task('ok', 1)), e.run(task('ok', 2))])).map(outcome)).toEqual([1, 2]);
    expect(await e.run(task('ok', 3))).toMatchObject({ ok: true, output: 3 });
    expect(ran).toEqual([1, 2, 3]);
    expect(e.fallbackReason).toMatch(/did not start/);
    expect(frames()).toBe(0);
  });

  test('error: a frame that sends a malformed message before it starts is dropped; its task fails as node_error', async () => {
    const e = executor({ framePath: frameUrl('#garbage') });
    const result = await e.run(task('ok', 1));
    expect(result).toMatchObject({
      ok: false,
      error: { kind: 'node_error', message: expect.stringMatching(/malformed/) },
    });
    expect(e.lost).toBe(0);
  });

  test('behavior: a task aborted while its frame is lost is not run again', async () => {
    const e = executor();
    const abort = new AbortController();
    const hang = e.run(task('hang', 1), abort.signal);
    const bomb = e.run(task('die', 2));
    await new Promise((r) => setTimeout(r, 100));
    abort.abort();
    expect(await hang).toMatchObject({ ok: false, error: { kind: 'node_error', message: 'aborted' } });
    expect(outcome(await bomb)).toBe('memory_limit');
    expect(e).toMatchObject({ lost: 2, rerunAlone: 1 });
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
