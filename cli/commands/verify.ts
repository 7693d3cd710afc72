import { createPublicClient, type Hex, http, isAddress } from 'viem';
import { verifyAnchor } from '../../client/verify-anchor.ts';
import { chainFor } from '../../protocol/chains.ts';
import type { JsonValue } from '../../protocol/index.ts';
import { commonHelp, intFlag, parseCommand } from '../args.ts';
import { usageError } from '../cli-error.ts';
import type { Command } from '../command.ts';
import { connect } from '../connect.ts';
import { ExitCode, exitCodesHelp } from '../exit-codes.ts';
import { printJson, write } from '../output.ts';
import { formatTime } from '../time-format.ts';

const help = `monadmesh verify: check a finished job's on-chain anchor against the chain itself

Usage: monadmesh verify <job-id> [--task N [--input JSON]] [--rpc URL] [--registry ADDRESS] [--json]
       npm run verify-job -- <job-id> [--task N] ...

Fetches the job's proof (GET /jobs/:id/proof), its status and (with --task) that task's result,
recomputes every hash and Merkle path locally, then asks the chain, with viem, whether the
MonadMeshRegistry holds the batch root and agrees (verifyJob / verifyTask) and whether the
transaction committed it. For a task of a proven (circom) job it also fetches the job's circuit
manifest (checked against the code CID the job leaf commits) and has the registry check the
task's Groth16 proof of its anchored output (verifyProof, a free eth_call). Nothing the API says is taken on trust beyond the data itself: pass
--rpc and --registry to use your own RPC and the registry address you know (else the chain's RPC
from GET /config and the address in the proof are used, and the output says so).

  --task N            also check task N: its output, error, verification digest and input, and
                      for a proven job its proof, on-chain
  --input JSON        task N's input as you gave it: checked against the anchored input hash,
                      and for a proven job against the signals its proof is of
  --rpc URL           the chain's JSON-RPC endpoint (default: $MONADMESH_RPC, else the API's /config)
  --registry ADDRESS  the MonadMeshRegistry to check against (default: the one the proof names)
${commonHelp}

With --json: {"ok", "checks": [{"name","ok","detail"}], "anchor": {root, txHash, blockNumber, chainId}}.
Exit code 0 when every check passes, 1 when any fails, 2 when the job is not anchored yet.

Examples:
  monadmesh verify 3f0c9a…
  monadmesh verify 3f0c9a… --task 12 --rpc https://testnet-rpc.monad.xyz

${exitCodesHelp}
`;

const options = {
  task: { type: 'string' },
  rpc: { type: 'string' },
  registry: { type: 'string' },
  input: { type: 'string' },
} as const;

export const verify: Command = {
  name: 'verify',
  summary: "check a finished job's on-chain anchor (and a task's) against the chain",
  help,
  async run(argv) {
    const { values, positionals } = parseCommand(argv, options, { min: 1, max: 1, names: 'the job id' });
    if (values.help) {
      await write(process.stdout, help);
      return ExitCode.ok;
    }
    const task = intFlag('task', values.task, 0, 0xffff_ffff);
    if (values.registry !== undefined && !isAddress(values.registry, { strict: false })) {
      throw usageError(`--registry must be an address, got ${JSON.stringify(values.registry)}`);
    }
    let input: JsonValue | undefined;
    if (values.input !== undefined) {
      if (task === undefined) throw usageError("--input goes with --task N (it is that task's input)");
      try {
        input = JSON.parse(values.input) as JsonValue;
      } catch {
        throw usageError(`--input must be JSON, got ${JSON.stringify(values.input.slice(0, 80))}`);
      }
    }
    const { client, connection } = connect(values);
    const job = client.job(positionals[0]!);
    const proof = await job.proof(task === undefined ? {} : { task });
    if (!proof.anchored) {
      const when = proof.expectedBy ? ` (expected by ${formatTime(proof.expectedBy, Date.now())})` : '';
      if (values.json)
        await printJson({ ok: false, anchored: false, state: proof.state, message: proof.message });
      else await write(process.stderr, `not anchored yet: ${proof.message}${when}\n`);
      return ExitCode.usage;
    }
    const notes: string[] = [];
    let rpcUrl = values.rpc ?? process.env.MONADMESH_RPC;
    if (!rpcUrl) {
      const res = await fetch(`${connection.api}/api/v1/config`);
      rpcUrl = ((await res.json()) as { rpcUrl: string }).rpcUrl;
      notes.push(`using the RPC the API names (${rpcUrl}); pass --rpc to use your own`);
    }
    if (!values.registry)
      notes.push(`using the registry the proof names (${proof.chain.registry}); pass --registry to pin it`);
    const status = await job.status();
    const result =
      task === undefined ? undefined : (await job.resultsPage({ cursor: task, limit: 1 })).results[0];
    let manifest: Uint8Array | undefined;
    if (result && (status.runtime === 'circom' || result.proof || result.verification?.how === 'proven')) {
      const res = await fetch(`${connection.api}/api/v1/blobs/${status.codeCid}`);
      if (res.ok) manifest = new Uint8Array(await res.arrayBuffer());
      else
        notes.push(
          `the circuit manifest ${status.codeCid} could not be fetched (HTTP ${res.status}): the proof was not checked`,
        );
    }
    const publicClient = createPublicClient({
      chain: chainFor(proof.chain.id, rpcUrl),
      transport: http(rpcUrl),
    });
    const report = await verifyAnchor({
      proof,
      status,
      ...(result ? { result } : {}),
      ...(task === undefined ? {} : { task }),
      client: publicClient,
      ...(values.registry ? { registry: values.registry.toLowerCase() as Hex } : {}),
      ...(manifest ? { manifest } : {}),
      ...(input === undefined ? {} : { input }),
    });
    const anchor = {
      root: proof.batch.root,
      txHash: proof.batch.txHash,
      blockNumber: proof.batch.blockNumber,
      chainId: proof.chain.id,
      registry: proof.chain.registry,
      ...(proof.batch.txUrl ? { txUrl: proof.batch.txUrl } : {}),
      ...(report.specRegisteredAt ? { specRegisteredAt: Number(report.specRegisteredAt) } : {}),
    };
    if (values.json) {
      await printJson({ ok: report.ok, checks: report.checks, anchor, notes });
    } else {
      const lines = report.checks.map((c) => `${c.ok ? 'ok  ' : 'FAIL'}  ${c.name.padEnd(19)}${c.detail}`);
      lines.push(
        '',
        `${report.ok ? 'verified' : 'NOT verified'}: job ${proof.jobId}${task === undefined ? '' : `, task ${task}`}, batch ${proof.batch.root}`,
        `  committed by ${proof.batch.txHash} in block ${proof.batch.blockNumber} of chain ${proof.chain.id}${proof.batch.txUrl ? ` (${proof.batch.txUrl})` : ''}`,
        report.specRegisteredAt
          ? `  the owner registered this job's spec hash in block ${report.specRegisteredAt}`
          : "  the owner did not register this job's spec hash on the registry",
        ...notes.map((n) => `  note: ${n}`),
      );
      await write(process.stdout, `${lines.join('\n')}\n`);
    }
    return report.ok ? ExitCode.ok : ExitCode.jobFailed;
  },
};
