import { jobRoom } from '../../durable-objects/stubs.ts';
import { MeshError } from '../../protocol/index.ts';
import type { Env } from '../env.ts';

/** A job id as the API makes them (a UUID); anything else names no job. */
export const JOB_ID = /^[0-9a-f-]{36}$/;

/** The room of a job the caller owns, with its status; 404 / 403 otherwise. */
export async function ownedJob(env: Env, id: string, address: string) {
  if (!JOB_ID.test(id)) throw new MeshError('not_found', `no job with id ${id}`);
  const room = jobRoom(env, id);
  const status = await room.status();
  if (!status) throw new MeshError('not_found', `no job with id ${id}`);
  if (status.owner !== address) throw new MeshError('forbidden', 'this job belongs to another wallet');
  return { room, status };
}
