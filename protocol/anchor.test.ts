import { encodePacked, type Hex, hexToBytes } from 'viem';
import { describe, expect, it } from 'vitest';
import {
  cidLeafHash,
  inputLeafHash,
  inputsRoot,
  inputsRootOfHashes,
  JobLeaf,
  jobLeafHash,
  jobSpecHash,
  sha256Text,
  taskLeafHash,
  verificationLeaf,
  ZERO32,
} from './anchor.ts';
import { cidOf } from './cid.ts';
import type { VerificationPolicy } from './job.ts';
import { merkleLeafHash } from './merkle.ts';

const specOf = ({ inputTexts, ...rest }: Omit<typeof base, 'policy'> & { policy: VerificationPolicy }) => ({
  ...rest,
  inputsRoot: inputsRoot(inputTexts),
  tasks: inputTexts.length,
});
const base = {
  runtime: 'js',
  codeCid: 'bafkreihdwdcefgh4dqkjv67uzcmw7ojee6xedzdetojuzjevtenxquvyku',
  inputTexts: ['1', '2', '{"a":3}'],
  timeoutMs: 30_000,
  maxAttempts: 3,
  memoryMb: 128,
  policy: { kind: 'adaptive', trust: 0.99 } as VerificationPolicy,
};

describe('anchor leaves', () => {
  it('the spec hash names code, inputs, limits and policy, and changes with any of them', () => {
    const hash = jobSpecHash(specOf(base));
    expect(hash).toMatch(/^0x[0-9a-f]{64}$/);
    expect(jobSpecHash(specOf({ ...base }))).toBe(hash);
    const variants = [
      { runtime: 'python' },
      { codeCid: 'bafkreigh2akiscaildcqabsyg3dfr6chu3fgpregiymsck7e7aqa4s52zy' },
      { inputTexts: ['1', '2', '{"a":4}'] },
      { inputTexts: ['2', '1', '{"a":3}'] },
      { inputTexts: ['1', '2'] },
      { timeoutMs: 30_001 },
      { maxAttempts: 2 },
      { memoryMb: 256 },
      { policy: { kind: 'adaptive', trust: 0.999 } as const },
      { policy: { kind: 'fixed', redundancy: 2 } as const },
    ];
    const hashes = new Set(variants.map((v) => jobSpecHash(specOf({ ...base, ...v }))));
    expect(hashes.size).toBe(variants.length);
    expect(hashes.has(hash)).toBe(false);
  });

  it('input order and positions are committed', () => {
    expect(inputsRoot(['1', '2'])).not.toBe(inputsRoot(['2', '1']));
    expect(inputsRoot(['1'])).not.toBe(inputsRoot(['1', '1']));
  });

  it("a CID's leaf hash is the hash of its binary form, whatever its spelling", async () => {
    const cid = await cidOf(new TextEncoder().encode('export default (x) => x'));
    const { base32 } = await import('multiformats/bases/base32');
    const { base58btc } = await import('multiformats/bases/base58');
    expect(cidLeafHash(cid.toString(base58btc))).toBe(cidLeafHash(cid.toString(base32)));
    expect(() => cidLeafHash('not-a-cid')).toThrow(/not a CID/);
  });

  it('job and task leaves differ in every field', () => {
    const job = JobLeaf.parse({
      jobId: sha256Text('job'),
      specHash: sha256Text('spec'),
      codeCid: sha256Text('code'),
      owner: '0x00000000000000000000000000000000000000aA',
      inputsRoot: sha256Text('in'),
      tasksRoot: sha256Text('tasks'),
      tasks: 3,
      state: 1,
    });
    expect(job.owner).toBe('0x00000000000000000000000000000000000000aa');
    const base = jobLeafHash(job).join();
    for (const change of [
      { jobId: ZERO32 },
      { specHash: ZERO32 },
      { codeCid: ZERO32 },
      { owner: '0x00000000000000000000000000000000000000ab' as const },
      { inputsRoot: ZERO32 },
      { tasksRoot: ZERO32 },
      { tasks: 4 },
      { state: 2 },
    ]) {
      expect(jobLeafHash({ ...job, ...change }).join(), JSON.stringify(change)).not.toBe(base);
    }
    const task = { index: 0, state: 1, inputHash: ZERO32, outputHash: sha256Text('1'), verification: ZERO32 };
    expect(taskLeafHash(task).join()).not.toBe(taskLeafHash({ ...task, index: 1 }).join());
    expect(taskLeafHash(task).join()).not.toBe(
      taskLeafHash({ ...task, verification: sha256Text('v') }).join(),
    );
  });

  it('a verification digest becomes a bytes32; none is zero; anything else is refused', () => {
    expect(verificationLeaf(undefined)).toBe(ZERO32);
    expect(verificationLeaf('AB'.repeat(32))).toBe(`0x${'ab'.repeat(32)}`);
    expect(() => verificationLeaf('abc')).toThrow(/SHA-256/);
    expect(() => verificationLeaf('zz'.repeat(32))).toThrow(/SHA-256/);
  });

  it('the leaf schema refuses malformed fields', () => {
    const good = {
      jobId: ZERO32,
      specHash: ZERO32,
      codeCid: ZERO32,
      owner: '0x00000000000000000000000000000000000000aa',
      inputsRoot: ZERO32,
      tasksRoot: ZERO32,
      tasks: 1,
      state: 1,
    };
    expect(JobLeaf.safeParse(good).success).toBe(true);
    for (const bad of [
      { jobId: '0x12' },
      { owner: '0x12' },
      { tasks: 0 },
      { state: 4 },
      { jobId: ZERO32.toUpperCase() },
    ]) {
      expect(JobLeaf.safeParse({ ...good, ...bad }).success, JSON.stringify(bad)).toBe(false);
    }
  });
});

describe('packed leaves', () => {
  // What the leaves were first written with (viem's general encoder), to check the direct packing.
  const viaViem = {
    task: (t: { index: number; state: number; inputHash: Hex; outputHash: Hex; verification: Hex }) =>
      merkleLeafHash(
        hexToBytes(
          encodePacked(
            ['bytes1', 'uint32', 'uint8', 'bytes32', 'bytes32', 'bytes32'],
            ['0x54', t.index, t.state, t.inputHash, t.outputHash, t.verification],
          ),
        ),
      ),
    input: (index: number, hash: Hex) =>
      merkleLeafHash(hexToBytes(encodePacked(['bytes1', 'uint32', 'bytes32'], ['0x49', index, hash]))),
  };
  const word = (seed: string) => sha256Text(seed);

  it('behavior: task and input leaves are byte for byte what abi.encodePacked gives, at the edges of their ranges', () => {
    for (const index of [0, 1, 255, 256, 65_535, 1_000_000, 0xffff_fffe, 0xffff_ffff]) {
      for (const state of [0, 1, 2, 3, 255]) {
        const task = {
          index,
          state,
          inputHash: word(`in${index}`),
          outputHash: word(`out${state}`),
          verification: index % 2 ? ZERO32 : word(`v${index}`),
        };
        expect(taskLeafHash(task as never)).toEqual(viaViem.task(task));
      }
      expect(inputLeafHash(index, word(`i${index}`))).toEqual(viaViem.input(index, word(`i${index}`)));
    }
  });

  it('error: what encodePacked refuses is refused: an index outside uint32, a state outside uint8, a word that is not 32 bytes', () => {
    const ok = { index: 1, state: 1, inputHash: ZERO32, outputHash: ZERO32, verification: ZERO32 };
    const bad = [
      { ...ok, index: -1 },
      { ...ok, index: 2 ** 32 },
      { ...ok, index: 1.5 },
      { ...ok, state: 256 },
      { ...ok, state: -1 },
      { ...ok, inputHash: '0x1234' as Hex },
      { ...ok, outputHash: `0x${'00'.repeat(33)}` as Hex },
    ];
    for (const leaf of bad) {
      expect(() => viaViem.task(leaf), JSON.stringify(leaf)).toThrow();
      expect(() => taskLeafHash(leaf as never), JSON.stringify(leaf)).toThrow();
    }
    expect(() => inputLeafHash(2 ** 32, ZERO32)).toThrow();
  });

  it('behavior: the input tree from hashes is the input tree from texts', () => {
    const texts = ['1', '"two"', '{"a":[3]}', 'null', '4.5'];
    expect(inputsRootOfHashes(texts.map(sha256Text))).toBe(inputsRoot(texts));
  });
});
