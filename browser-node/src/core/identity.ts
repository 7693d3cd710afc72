import {
  generateKeyPair,
  generateKeyPairFromSeed,
  privateKeyFromProtobuf,
  privateKeyToProtobuf,
} from '@libp2p/crypto/keys';
import type { Ed25519PeerId, Ed25519PrivateKey } from '@libp2p/interface';
import { peerIdFromPrivateKey } from '@libp2p/peer-id';
import { base64url } from 'multiformats/bases/base64';

/**
 * Where a host keeps the node's private key (the libp2p protobuf encoding): a file headless
 * (`FileKeyStore`), IndexedDB in a tab (`IndexedDbKeyStore`).
 */
export interface KeyStore {
  /** The stored key, or undefined when none is stored yet. */
  load(): Promise<Uint8Array | undefined>;
  /**
   * Store a new key unless one is already stored: a store never replaces a key, since a node's
   * identity is what its receipts (and later its reputation) are tied to. `loadOrCreateIdentity`
   * loads again after saving, so two nodes racing on one empty store end up with the same key.
   */
  save(bytes: Uint8Array): Promise<void>;
  /** Where the key lives, for error messages (a path, a database name). */
  readonly location: string;
}

/** A node's identity: its Ed25519 key, whose peer id names the node and signs its receipts. */
export interface NodeIdentity {
  readonly privateKey: Ed25519PrivateKey;
  readonly peerId: Ed25519PeerId;
  /** An Ed25519 signature of `bytes` with `privateKey`. */
  sign(bytes: Uint8Array): Promise<Uint8Array>;
}

/**
 * The identity of a key. Signing goes through WebCrypto with the key imported once (the libp2p
 * key imports it again for every signature, which costs a third more per result), and through
 * the libp2p key where WebCrypto has no Ed25519.
 */
export function identityFromKey(privateKey: Ed25519PrivateKey): NodeIdentity {
  let cryptoKey: Promise<CryptoKey | undefined> | undefined;
  const importOnce = () =>
    (cryptoKey ??= crypto.subtle
      .importKey(
        'jwk',
        {
          kty: 'OKP',
          crv: 'Ed25519',
          d: base64url.baseEncode(privateKey.raw.subarray(0, 32)),
          x: base64url.baseEncode(privateKey.publicKey.raw),
        },
        { name: 'Ed25519' },
        false,
        ['sign'],
      )
      .catch(() => undefined));
  return {
    privateKey,
    peerId: peerIdFromPrivateKey(privateKey),
    async sign(bytes) {
      const key = await importOnce();
      if (!key) return privateKey.sign(bytes);
      return new Uint8Array(await crypto.subtle.sign({ name: 'Ed25519' }, key, new Uint8Array(bytes)));
    },
  };
}

/** The stored key cannot be used; the message says where it is and what to do. */
export class IdentityError extends Error {
  override readonly name = 'IdentityError';
  readonly code = 'identity_invalid';
}

/**
 * Load the node's key from `store`, or create an Ed25519 key and store it on first use.
 *
 * @example
 * const identity = await loadOrCreateIdentity(new FileKeyStore(defaultKeyFile()));
 * console.log(identity.peerId.toString()); // 12D3KooW…, the same after every restart
 */
export async function loadOrCreateIdentity(store: KeyStore): Promise<NodeIdentity> {
  let bytes = await store.load();
  if (!bytes) {
    await store.save(privateKeyToProtobuf(await generateKeyPair('Ed25519')));
    bytes = await store.load();
    if (!bytes) throw new IdentityError(`the node key saved to ${store.location} cannot be read back`);
  }
  return identityFromKey(await decodeKey(bytes, store.location));
}

async function decodeKey(bytes: Uint8Array, location: string): Promise<Ed25519PrivateKey> {
  const fix = 'Restore it from a backup, or delete it to start this node with a new identity.';
  let key: ReturnType<typeof privateKeyFromProtobuf>;
  try {
    key = privateKeyFromProtobuf(bytes);
  } catch (err) {
    throw new IdentityError(
      `the node key in ${location} is not a libp2p private key (${(err as Error).message}). ${fix}`,
      { cause: err },
    );
  }
  if (key.type !== 'Ed25519') {
    throw new IdentityError(
      `the node key in ${location} is a ${key.type} key; nodes sign with Ed25519. ${fix}`,
    );
  }
  // The encoding holds the public half too; a damaged one would sign receipts nobody can check.
  const rebuilt = await generateKeyPairFromSeed('Ed25519', key.raw.subarray(0, 32));
  if (!rebuilt.publicKey.equals(key.publicKey)) {
    throw new IdentityError(
      `the node key in ${location} is damaged: its public half does not match its private half. ${fix}`,
    );
  }
  return key;
}
