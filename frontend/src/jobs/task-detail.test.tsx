import { QueryClient, QueryClientProvider } from '@tanstack/react-query';
import { cleanup, render, screen, within } from '@testing-library/react';
import { afterEach, expect, test } from 'vitest';
import type { ResultsPage, TaskResult } from '../../../protocol/index.ts';
import { TaskDetail } from './task-detail.tsx';

afterEach(cleanup);

const replica = (identity: string, answer: string, agreed: boolean) => ({
  identity,
  nodeId: `node-${identity.slice(-1)}`,
  peerId: 'p',
  answer,
  credibility: 0.8,
  agreed,
});

function show(result: TaskResult, verificationKey?: unknown) {
  const page: ResultsPage = { jobId: 'j', state: 'succeeded', total: 1, results: [result] };
  render(
    <QueryClientProvider client={new QueryClient()}>
      <TaskDetail
        jobId="j"
        index={0}
        live={undefined}
        fetchPage={async () => page}
        jobWaiting={undefined}
        verificationKey={verificationKey}
      />
    </QueryClientProvider>,
  );
}

const dataJson = (href: string | null) =>
  JSON.parse(decodeURIComponent((href ?? '').replace(/^data:application\/json[^,]*,/, '')));

test('default: a proven task says "proof verified" and offers its proof, public signals and the verification key as JSON', async () => {
  const proof = {
    pi_a: ['1', '2', '1'],
    pi_b: [
      ['3', '4'],
      ['5', '6'],
      ['1', '0'],
    ],
    pi_c: ['7', '8', '1'],
    protocol: 'groth16',
    curve: 'bn128',
  } as const;
  const key = { protocol: 'groth16', curve: 'bn128', nPublic: 2, IC: [['1', '2', '1']] };
  show(
    {
      index: 0,
      state: 'succeeded',
      output: ['36', '9'],
      attempts: 1,
      proof: proof as unknown as TaskResult['proof'],
      verification: {
        policy: { kind: 'adaptive', trust: 0.98 },
        how: 'proven',
        confidence: 1,
        replicas: [replica('peer:a', 'bafk', true)],
        digest: 'ef'.repeat(32),
      },
    },
    key,
  );
  expect((await screen.findByText(/^proof verified: Groth16/)).getAttribute('data-verification')).toBe(
    'proven',
  );
  expect(dataJson(screen.getByRole('link', { name: 'Download the proof' }).getAttribute('href'))).toEqual(
    proof,
  );
  expect(dataJson(screen.getByRole('link', { name: 'public signals' }).getAttribute('href'))).toEqual([
    '36',
    '9',
  ]);
  expect(dataJson(screen.getByRole('link', { name: 'verification key' }).getAttribute('href'))).toEqual(key);
});

test('default: a verified task shows its badge and which identities answered what', async () => {
  show({
    index: 0,
    state: 'succeeded',
    output: 4,
    attempts: 1,
    verification: {
      policy: { kind: 'fixed', redundancy: 2 },
      how: 'quorum',
      confidence: 0.76,
      replicas: [
        replica('peer:a', 'bafk-right', true),
        replica('peer:b', 'bafk-wrong', false),
        replica('wallet:0xc', 'bafk-right', true),
      ],
      digest: 'ab'.repeat(32),
    },
  });
  const badge = await screen.findByText('verified: 2 of 3 identities agree');
  expect(badge.getAttribute('data-verification')).toBe('quorum');
  const rows = screen.getAllByRole('row').slice(1);
  expect(
    rows.map((r) =>
      within(r)
        .getAllByRole('cell')
        .map((c) => c.textContent),
    ),
  ).toEqual([
    ['peer:a', 'node-a', 'bafk-right', '0.800', 'agreed'],
    ['peer:b', 'node-b', 'bafk-wrong', '0.800', 'disagreed'],
    ['wallet:0xc', 'node-c', 'bafk-right', '0.800', 'agreed'],
  ]);
});

test("default: a result taken on one node's word says it is unverified", async () => {
  show({
    index: 0,
    state: 'succeeded',
    output: 4,
    attempts: 1,
    verification: {
      policy: { kind: 'fixed', redundancy: 1 },
      how: 'unverified',
      confidence: 0.8,
      replicas: [replica('peer:a', 'bafk', true)],
      digest: 'cd'.repeat(32),
    },
  });
  expect((await screen.findByText(/^unverified: one node/)).getAttribute('data-verification')).toBe(
    'unverified',
  );
});

test('behavior: a task verified again after its lone node was caught says so', async () => {
  show({
    index: 0,
    state: 'succeeded',
    output: 4,
    attempts: 1,
    verification: {
      policy: { kind: 'adaptive', trust: 0.98 },
      how: 'quorum',
      confidence: 0.981,
      reverified: true,
      replicas: [
        replica('peer:a', 'bafk-wrong', false),
        ...['b', 'c', 'd', 'e'].map((x) => replica(`peer:${x}`, 'bafk-right', true)),
      ],
      digest: 'ef'.repeat(32),
    },
  });
  expect(
    await screen.findByText(/verified again \(its first node was caught answering wrong\)/),
  ).toBeTruthy();
});
