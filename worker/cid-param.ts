import { MeshError, parseCid } from '../protocol/index.ts';

/** A CID path parameter, parsed and checked: its canonical string, or `invalid_cid`. */
export function requireCid(text: string): string {
  const cid = parseCid(text);
  if (cid?.version !== 1) throw new MeshError('invalid_cid', `'${text.slice(0, 100)}' is not a CIDv1`);
  return cid.toString();
}
