import { peerIdFromString } from '@libp2p/peer-id';
import {
  decodeSignature,
  HELLO_PROOF_MAX_SKEW_MS,
  type HelloProof,
  helloProofBytes,
} from '../../protocol/index.ts';

/**
 * The raw Ed25519 public key (32 bytes) named by a libp2p peer id, or an Error that says why the
 * string is not a usable one (not a peer id, another key type, no embedded key).
 */
export function ed25519PublicKey(peerId: string): Uint8Array | Error {
  let parsed: ReturnType<typeof peerIdFromString>;
  try {
    parsed = peerIdFromString(peerId);
  } catch (err) {
    return new Error(
      `peerId ${JSON.stringify(peerId.slice(0, 80))} is not a libp2p peer id: ${(err as Error).message}`,
    );
  }
  if (parsed.type !== 'Ed25519' || !parsed.publicKey) {
    return new Error(`peerId ${peerId} is not an Ed25519 peer id (its key type is ${parsed.type})`);
  }
  return parsed.publicKey.raw;
}

/**
 * The WebCrypto key of an Ed25519 peer id, imported once per node (its hello) and used for every
 * batch of receipts it signs. Verification is WebCrypto's Ed25519 (native in workerd, browsers
 * and Node), which costs far less than a pure-JS verify.
 *
 * @example
 * const key = await peerKey(peerId);
 * if (key instanceof Error) refuse(key.message);
 * else ok = await verifySignature(key, receiptBatchBytes(batch), frame.signature);
 */
export async function peerKey(peerId: string): Promise<CryptoKey | Error> {
  const raw = ed25519PublicKey(peerId);
  if (raw instanceof Error) return raw;
  try {
    return await crypto.subtle.importKey('raw', new Uint8Array(raw), { name: 'Ed25519' }, false, ['verify']);
  } catch (err) {
    return new Error(`the public key of ${peerId} cannot be used: ${(err as Error).message}`);
  }
}

/** True when `signature` (base64, no padding) is `key`'s Ed25519 signature over `bytes`. */
export async function verifySignature(
  key: CryptoKey,
  bytes: Uint8Array<ArrayBuffer>,
  signature: string,
): Promise<boolean> {
  const sig = decodeSignature(signature);
  if (!sig) return false;
  try {
    return await crypto.subtle.verify({ name: 'Ed25519' }, key, sig, bytes);
  } catch {
    return false;
  }
}

/**
 * Why a `node.hello` that names `peerId` does not prove it holds that key, or undefined when it
 * does: the proof must be there, signed within `HELLO_PROOF_MAX_SKEW_MS` of `now`, and its
 * signature must verify with the peer id's key over `helloProofBytes` for `host` (the host the
 * node connected to, so a proof for another deployment is worthless here).
 *
 * @example
 * const refused = await checkHelloProof(msg.peerId, msg.proof, { host: session.host, now: Date.now() });
 * if (refused) closeWith(refused.message);
 */
export async function checkHelloProof(
  peerId: string,
  proof: HelloProof,
  { host, now }: { host: string; now: number },
): Promise<Error | undefined> {
  if (Math.abs(now - proof.at) > HELLO_PROOF_MAX_SKEW_MS) {
    return new Error(
      `the hello proof was signed at ${new Date(proof.at).toISOString()}, more than ${HELLO_PROOF_MAX_SKEW_MS / 60_000} minutes from the hub's clock (${new Date(now).toISOString()}); check the node's clock`,
    );
  }
  const key = await peerKey(peerId);
  if (key instanceof Error) return key;
  const ok = await verifySignature(key, helloProofBytes({ peerId, host, at: proof.at }), proof.signature);
  return ok
    ? undefined
    : new Error(`the hello proof does not verify for peer ${peerId} connecting to ${host}`);
}
