import { randomBytes } from 'node:crypto';
import { chmod, link, mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import { dirname, join } from 'node:path';
import type { KeyStore } from '../core/identity.ts';

/** `$MONADMESH_NODE_KEY_FILE`, else `~/.monadmesh/node-key`. */
export function defaultKeyFile(env: Record<string, string | undefined> = process.env): string {
  return env.MONADMESH_NODE_KEY_FILE || join(homedir(), '.monadmesh', 'node-key');
}

/**
 * The headless node's key in one file, readable by its owner only (mode 0600, in a 0700
 * directory when it creates the directory). A new key is written to a temporary file and
 * hard-linked into place, so a key is never half-written and never replaced.
 *
 * @example
 * const identity = await loadOrCreateIdentity(new FileKeyStore('/var/lib/monadmesh/node-key'));
 */
export class FileKeyStore implements KeyStore {
  readonly location: string;

  constructor(path: string) {
    this.location = path;
  }

  async load(): Promise<Uint8Array | undefined> {
    try {
      return new Uint8Array(await readFile(this.location));
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw err;
    }
  }

  async save(bytes: Uint8Array): Promise<void> {
    await mkdir(dirname(this.location), { recursive: true, mode: 0o700 });
    const temp = `${this.location}.${randomBytes(6).toString('hex')}.tmp`;
    await writeFile(temp, bytes, { mode: 0o600, flag: 'wx' });
    try {
      // writeFile's mode is filtered by the umask; make sure.
      await chmod(temp, 0o600);
      await link(temp, this.location);
    } catch (err) {
      // Another process stored its key first: keep that one (the caller loads it again).
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    } finally {
      await rm(temp, { force: true });
    }
  }
}
