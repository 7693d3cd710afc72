import { afterAll, describe, expect, test } from 'vitest';
import { RuntimeFingerprint } from '../../../protocol/index.ts';
import { headlessEngine } from '../headless/headless-engine.ts';
import { ThreadExecutor } from '../headless/thread-executor.ts';
import { computeFingerprint, floatProbes } from './fingerprint.ts';

// The probes run where tasks run: in a sandbox worker of a real executor.
const executor = new ThreadExecutor({ threads: 1, warmMemoryMb: 64 });
afterAll(() => executor.close());

describe('computeFingerprint', () => {
  test('default', async () => {
    const fingerprint = await computeFingerprint({ executor, engine: headlessEngine() });
    expect(RuntimeFingerprint.parse(fingerprint)).toEqual(fingerprint);
    expect(fingerprint.class).toBe(fingerprint.probeHash.slice(0, 16));
    expect(fingerprint.engine).toMatchObject({
      name: 'node',
      version: process.versions.node,
      v8: process.versions.v8,
      wasiHost: expect.stringMatching(/^@bjorn3\/browser_wasi_shim@\d+\.\d+\.\d+$/),
    });
  });

  test('behavior: stable across computations in the same process', async () => {
    const a = await computeFingerprint({ executor, engine: { name: 'node' } });
    const b = await computeFingerprint({ executor, engine: { name: 'node' } });
    expect(b.probeHash).toBe(a.probeHash);
  });

  test('behavior: the class changes when one probe result changes', async () => {
    const base = await computeFingerprint({ executor, engine: { name: 'node' } });
    // Same names, one value off by one ulp: what a different libm would give.
    const probes = floatProbes.map((p) =>
      p.name === 'cbrt(3)' ? { ...p, expr: `${p.expr} + Number.EPSILON` } : p,
    );
    const changed = await computeFingerprint({ executor, engine: { name: 'node' }, probes });
    expect(changed.class).not.toBe(base.class);
    const same = await computeFingerprint({ executor, engine: { name: 'node' }, probes: [...floatProbes] });
    expect(same.class).toBe(base.class);
  });

  test('error: a probe that throws fails the fingerprint', async () => {
    await expect(
      computeFingerprint({
        executor,
        engine: { name: 'node' },
        probes: [{ name: 'bad', expr: "JSON.parse('{')" }],
      }),
    ).rejects.toThrow(/fingerprint probes failed/);
  });
});
