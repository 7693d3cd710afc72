/**
 * `npm run bench -- sabotage [--tasks N] [--identities N] [--lie-rate P] [--collude]`
 *
 * How often a wrong result is accepted, and what verification costs, as the fraction of
 * saboteurs grows: a simulation that decides every task with the room's own functions
 * (`durable-objects/room/quorum.ts`: `decide`, `credibility`), and keeps each identity's record
 * as the hub does (a streak of agreements since its last mismatch, reset by a mismatch, which
 * also sends the results it alone decided lately back to be verified again).
 *
 * The mesh: `--identities` identities (default 100), a fraction of them saboteurs that give a
 * wrong answer to a fraction `--lie-rate` (default 0.3) of their tasks and the right one
 * otherwise (to earn credibility); each replica of a task goes to an identity drawn at random
 * (and, at the room's rate, brings a known-answer check with it, counted as a replica)
 * among those that have not answered it. Saboteurs' lies are independent (each a different wrong
 * answer) unless `--collude` (every saboteur tells the same lie). `--tasks` tasks (default 20,000)
 * run one after another, so records build up over the run, as they would on a live mesh.
 *
 * `--real` also runs one job through `wrangler dev` with real nodes: ten anonymous headless nodes
 * (fresh keys), one of them a saboteur (`--saboteur` at the lie rate): 10 %. It prints the job's
 * wrong results, inconsistent and waiting tasks and replicas per task beside the simulation of
 * the same mesh (10 identities, one saboteur, the same number of tasks, averaged over 20 seeds).
 *
 * Policies: fixed redundancy 1, 2, 3 (r identities must agree) and adaptive (the default trust,
 * 0.98). Printed: the fraction of tasks with a wrong result accepted at the end of the run, and
 * still wrong after the mesh ran on for another tenth as many tasks (lone lies of a saboteur are
 * sent back when it is next caught), the fraction that ended `inconsistent`, and the replicas per
 * task (the run's tasks only). JSON in bench/results/.
 */
import { parseArgs } from 'node:util';
import { createApiKey, DEV_PRIVATE_KEYS } from '../client/sign-in.ts';
import { credibility, decide, knownAnswerRate, type Vote } from '../durable-objects/room/quorum.ts';
import { type JobStatus, jobDefaults, type ResultsPage, type VerificationPolicy } from '../protocol/index.ts';
import { startApi, startNode } from '../scripts/local-mesh.ts';
import { table, writeResult } from './report.ts';

const { values } = parseArgs({
  args: process.argv.slice(3),
  options: {
    tasks: { type: 'string', default: '20000' },
    identities: { type: 'string', default: '100' },
    'lie-rate': { type: 'string', default: '0.3' },
    collude: { type: 'boolean', default: false },
    seed: { type: 'string', default: '1' },
    real: { type: 'boolean', default: false },
  },
});
let TASKS = Number(values.tasks);
let IDENTITIES = Number(values.identities);
const LIE_RATE = Number(values['lie-rate']);
const FRACTIONS = [0, 0.05, 0.1, 0.2, 0.4];
/** Recent solo results kept per identity (as the hub keeps them). */
const MAX_SOLO = 256;

/** A small seeded PRNG (mulberry32), so that runs can be repeated. */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

interface Identity {
  saboteur: boolean;
  streak: number;
  solo: number[];
}

interface Outcome {
  /** Tasks with a wrong result accepted at the end of the run. */
  wrong: number;
  /** The same tasks' wrong results still standing after the mesh ran on a while. */
  wrongLater: number;
  inconsistent: number;
  /** Task runs, known-answer checks included. */
  replicas: number;
  reverified: number;
  /** Known-answer checks run. */
  checks: number;
}

function simulate(policy: VerificationPolicy, fraction: number, seed: number): Outcome {
  // Every replica on a distinct identity: a mesh of n identities runs at most n of a task.
  const random = rng(seed);
  const ids: Identity[] = Array.from({ length: IDENTITIES }, (_, i) => ({
    saboteur: i < Math.round(fraction * IDENTITIES),
    streak: 0,
    solo: [],
  }));
  /** Per task: its votes so far (kept for re-verification) and what was accepted. */
  const votesOf: (Vote & { who: number })[][] = [];
  const accepted: (string | undefined)[] = [];
  const inconsistent = new Set<number>();
  let replicas = 0;
  let reverified = 0;
  let checks = 0;

  const answerOf = (who: number, task: number): string => {
    const id = ids[who]!;
    if (id.saboteur && random() < LIE_RATE) return values.collude ? `lie:${task}` : `lie:${task}:${who}`;
    return 'right';
  };

  /** Run task `t` until decided, from the votes it has. */
  const settle = (t: number, queue: number[]) => {
    const votes = votesOf[t]!;
    for (;;) {
      const decision = decide(policy, votes, random);
      if (decision.kind === 'more') {
        const who = pick(votes);
        if (who === undefined) return; // nobody left to ask: stays pending
        const id = ids[who]!;
        knownCheck(who, queue);
        votes.push({
          identity: String(who),
          who,
          answer: answerOf(who, t),
          credibility: credibility(id.streak),
          streak: id.streak,
          trusted: false,
        });
        replicas++;
        continue;
      }
      if (decision.kind === 'inconsistent') {
        inconsistent.add(t);
        accepted[t] = undefined;
        return;
      }
      accepted[t] = decision.answer;
      if (decision.how === 'credible') {
        const id = ids[votes[0]!.who]!;
        id.solo.push(t);
        if (id.solo.length > MAX_SOLO) id.solo.shift();
      }
      if (votes.length < 2) return;
      for (const v of votes) {
        if (v.answer === decision.answer) ids[v.who]!.streak++;
        else caught(v.who, queue);
      }
      return;
    }
  };

  /** Caught: its streak resets, and what it decided alone lately is verified again. */
  const caught = (who: number, queue: number[]) => {
    const id = ids[who]!;
    id.streak = 0;
    for (const s of id.solo.splice(0)) {
      if (accepted[s] === undefined) continue;
      accepted[s] = undefined;
      for (const sv of votesOf[s]!) sv.credibility = credibility(0);
      queue.push(s);
    }
  };

  /**
   * A known-answer check beside a real replica, at the room's rate (verified policies only): one
   * more task run, which a lie fails.
   */
  const knownCheck = (who: number, queue: number[]) => {
    if (policy.kind === 'fixed' && policy.redundancy === 1) return;
    const id = ids[who]!;
    const trust = policy.kind === 'adaptive' ? policy.trust : jobDefaults.trust;
    if (random() >= knownAnswerRate(id.streak, trust)) return;
    replicas++;
    checks++;
    if (answerOf(who, -1) === 'right') id.streak++;
    else caught(who, queue);
  };

  const pick = (votes: { who: number }[]): number | undefined => {
    if (votes.length >= IDENTITIES) return undefined;
    for (;;) {
      const who = Math.floor(random() * IDENTITIES);
      if (!votes.some((v) => v.who === who)) return who;
    }
  };

  const run = (from: number, to: number) => {
    for (let t = from; t < to; t++) {
      votesOf[t] = [];
      const queue = [t];
      while (queue.length) {
        const next = queue.shift()!;
        if (next !== t) reverified++;
        settle(next, queue);
      }
    }
  };
  const wrongOf = () => {
    let n = 0;
    for (let t = 0; t < TASKS; t++) if (accepted[t] !== undefined && accepted[t] !== 'right') n++;
    return n;
  };
  run(0, TASKS);
  const wrong = wrongOf();
  const counted = { inconsistent: inconsistent.size, replicas };
  // The mesh runs on (another tenth as many tasks of other jobs): lies still standing at the end
  // are lone answers of saboteurs not caught again yet; a later catch sends them back.
  run(TASKS, TASKS + Math.ceil(TASKS / 10));
  return { wrong, wrongLater: wrongOf(), ...counted, reverified, checks };
}

const policies: { name: string; policy: VerificationPolicy }[] = [
  { name: 'r = 1', policy: { kind: 'fixed', redundancy: 1 } },
  { name: 'r = 2', policy: { kind: 'fixed', redundancy: 2 } },
  { name: 'r = 3', policy: { kind: 'fixed', redundancy: 3 } },
  { name: `adaptive (trust ${jobDefaults.trust})`, policy: { kind: 'adaptive', trust: jobDefaults.trust } },
];

const rows: Record<string, string | number>[] = [];
const data: {
  policy: string;
  saboteurs: number;
  wrongRate: number;
  wrongLaterRate: number;
  inconsistentRate: number;
  replicasPerTask: number;
  reverified: number;
}[] = [];
for (const fraction of FRACTIONS) {
  for (const { name, policy } of policies) {
    const o = simulate(policy, fraction, Number(values.seed));
    const entry = {
      policy: name,
      saboteurs: fraction,
      wrongRate: o.wrong / TASKS,
      wrongLaterRate: o.wrongLater / TASKS,
      inconsistentRate: o.inconsistent / TASKS,
      replicasPerTask: o.replicas / TASKS,
      reverified: o.reverified,
    };
    data.push(entry);
    rows.push({
      saboteurs: `${fraction * 100} %`,
      policy: name,
      'wrong accepted': `${(entry.wrongRate * 100).toFixed(3)} %`,
      'still wrong later': `${(entry.wrongLaterRate * 100).toFixed(3)} %`,
      inconsistent: `${(entry.inconsistentRate * 100).toFixed(3)} %`,
      'replicas/task': entry.replicasPerTask,
      're-verified': o.reverified,
    });
  }
}
const real = values.real ? await realRun() : undefined;

process.stdout.write(
  `sabotage: ${TASKS} tasks, ${IDENTITIES} identities, saboteurs lie at ${LIE_RATE}${values.collude ? ', colluding' : ', independently'}\n\n${table(rows)}\n`,
);
if (real) {
  process.stdout.write(
    `\nreal run through wrangler dev (10 anonymous nodes, 1 saboteur lying at ${LIE_RATE}), beside its simulation:\n\n${table(real.rows)}\n`,
  );
}
const path = writeResult('sabotage', {
  tasks: TASKS,
  identities: IDENTITIES,
  lieRate: LIE_RATE,
  collude: values.collude,
  results: data,
  ...(real ? { real: real.data } : {}),
});

/** One job of the default policy through `wrangler dev`, ten real nodes, one a saboteur. */
async function realRun() {
  const tasks = 200;
  const api = await startApi();
  const nodes = await Promise.all(
    Array.from({ length: 10 }, (_, i) =>
      startNode(api.url, {
        capacity: 1,
        anonymous: true,
        ...(i === 0 ? { args: ['--saboteur', String(LIE_RATE)] } : {}),
      }),
    ),
  );
  try {
    const key = (await createApiKey({ url: api.url, privateKey: DEV_PRIVATE_KEYS[0] })).key;
    const call = async <T>(path: string, init: RequestInit = {}): Promise<T> =>
      (await (
        await fetch(`${api.url}/api/v1${path}`, {
          ...init,
          headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
        })
      ).json()) as T;
    const started = performance.now();
    const { id } = await call<{ id: string }>('/jobs', {
      method: 'POST',
      body: JSON.stringify({
        runtime: 'js',
        source: 'export default (x) => x * 3 + 1',
        inputs: Array.from({ length: tasks }, (_, i) => i),
      }),
    });
    // Until it finishes, or stops moving with nothing leased (tasks waiting for more identities).
    let last = '';
    let still = 0;
    let status: JobStatus;
    for (;;) {
      status = await call<JobStatus>(`/jobs/${id}`);
      const now = JSON.stringify(status.counts);
      still = now === last && status.counts.leased === 0 ? still + 1 : 0;
      if (status.state !== 'running' || still >= 10) break;
      last = now;
      await new Promise((r) => setTimeout(r, 500));
    }
    const seconds = (performance.now() - started) / 1000;
    const { results } = await call<ResultsPage>(`/jobs/${id}/results?limit=1000`);
    const final = results.filter((r) => r.state === 'succeeded' || r.state === 'failed');
    const wrong = results.filter((r) => r.state === 'succeeded' && r.output !== r.index * 3 + 1).length;
    const replicas = final.reduce((n, r) => n + (r.verification?.replicas.length ?? 0), 0);
    const inconsistent = results.filter((r) => r.error?.kind === 'inconsistent').length;
    const waiting = results.filter((r) => r.state === 'pending').length;
    // The same mesh, simulated: 10 identities, 1 saboteur, the same tasks, over 20 seeds.
    const saved = { TASKS, IDENTITIES };
    TASKS = tasks;
    IDENTITIES = 10;
    const sims = Array.from({ length: 20 }, (_, s) =>
      simulate({ kind: 'adaptive', trust: jobDefaults.trust }, 0.1, s + 1),
    );
    ({ TASKS, IDENTITIES } = saved);
    const mean = (f: (o: Outcome) => number) => sims.reduce((a, o) => a + f(o), 0) / sims.length;
    const data = {
      tasks,
      seconds,
      real: {
        wrong,
        inconsistent,
        waiting,
        replicasPerFinalTask: final.length ? replicas / final.length : 0,
      },
      simulated: {
        wrong: mean((o) => o.wrong),
        inconsistent: mean((o) => o.inconsistent),
        // Replicas in the tasks' records (known-answer checks are not in a task's record).
        replicasPerTask: mean((o) => o.replicas - o.checks) / tasks,
      },
    };
    const rows = [
      {
        run: 'wrangler dev',
        'wrong accepted': wrong,
        inconsistent,
        'still waiting': waiting,
        'replicas/task': data.real.replicasPerFinalTask,
        seconds: Number(seconds.toFixed(1)),
      },
      {
        run: 'simulation (mean of 20)',
        'wrong accepted': data.simulated.wrong,
        inconsistent: data.simulated.inconsistent,
        'still waiting': '–',
        'replicas/task': data.simulated.replicasPerTask,
        seconds: '–',
      },
    ];
    return { rows, data };
  } finally {
    await Promise.all(nodes.map((n) => n.stop('SIGKILL')));
    await api.stop();
  }
}
process.stdout.write(`\n${path}\n`);
