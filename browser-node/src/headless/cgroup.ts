import { existsSync, mkdirSync, readdirSync, readFileSync, rmdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

/**
 * A kernel memory limit for one sandbox process: a cgroup of its own (v1's memory controller, or
 * v2 where the memory controller is enabled for children of the root), with a limit the node
 * moves before every task. Past it the kernel kills the process, whatever allocated the memory,
 * and the group says so (`oomKilled`). Needs write access to the cgroup file system (root, or a
 * delegated subtree); `detectCgroups` says whether the machine gives it.
 */
export interface SandboxCgroup {
  /** Put a process in the group. */
  add(pid: number): void;
  /** Set the group's memory limit, in bytes. */
  limit(bytes: number): void;
  /** Whether the kernel killed a process of the group for memory. */
  oomKilled(): boolean;
  /** Remove the group (its processes must be gone). */
  remove(): void;
}

export interface Cgroups {
  /** What is in force, for the node's start-up log. */
  readonly kind: 'cgroup v1' | 'cgroup v2';
  create(name: string): SandboxCgroup;
}

const V1 = '/sys/fs/cgroup/memory';
const V2 = '/sys/fs/cgroup';
const PREFIX = 'monadmesh-';

/**
 * The cgroup memory controller this process may use, or undefined (with the reason) when none is
 * available: no cgroup file system, no memory controller, or no write access. Groups that an
 * earlier node left behind (empty, named `monadmesh-*`) are removed.
 */
export function detectCgroups(): Cgroups | { kind: undefined; why: string } {
  const v1 = existsSync(join(V1, 'memory.limit_in_bytes'));
  const v2 =
    !v1 &&
    existsSync(join(V2, 'cgroup.controllers')) &&
    readFileSync(join(V2, 'cgroup.subtree_control'), 'utf8').split(/\s+/).includes('memory');
  if (!v1 && !v2) return { kind: undefined, why: 'no cgroup memory controller is mounted for this process' };
  const root = v1 ? V1 : V2;
  const probe = join(root, `${PREFIX}probe-${process.pid}`);
  try {
    mkdirSync(probe);
    rmdirSync(probe);
  } catch (error) {
    return { kind: undefined, why: `cannot create cgroups in ${root}: ${(error as Error).message}` };
  }
  for (const name of readdirSync(root).filter((n) => n.startsWith(PREFIX))) {
    // A group of a node that is still running may be empty for a moment (made, its process not
    // yet in it): removing it then failed that node's start. Only a gone node's groups are stale.
    const owner = Number(/^monadmesh-(?:probe-)?(\d+)(?:-|$)/.exec(name)?.[1]);
    if (Number.isInteger(owner) && processAlive(owner)) continue;
    try {
      rmdirSync(join(root, name)); // fails while a process is in it: then it is not stale
    } catch {
      // in use
    }
  }
  return {
    kind: v1 ? 'cgroup v1' : 'cgroup v2',
    create(name) {
      const dir = join(root, `${PREFIX}${name}`);
      mkdirSync(dir);
      const limitFile = v1 ? 'memory.limit_in_bytes' : 'memory.max';
      if (v1) {
        // No swap beyond the limit where the kernel accounts it.
        try {
          writeFileSync(join(dir, 'memory.swappiness'), '0');
        } catch {
          // not every kernel lets it be set
        }
      }
      let written: number | undefined;
      return {
        add: (pid) => writeFileSync(join(dir, 'cgroup.procs'), String(pid)),
        limit: (bytes) => {
          // Written only when it moves: a write costs a system call (and memcg work) per task.
          const value = Math.floor(bytes);
          if (value === written) return;
          writeFileSync(join(dir, limitFile), String(value));
          written = value;
        },
        oomKilled: () => {
          try {
            const text = readFileSync(join(dir, v1 ? 'memory.oom_control' : 'memory.events'), 'utf8');
            return Number(/^oom_kill (\d+)$/m.exec(text)?.[1] ?? 0) > 0;
          } catch {
            return false;
          }
        },
        remove: () => {
          try {
            rmdirSync(dir);
          } catch {
            // a process is still leaving; the next node's start removes it
          }
        },
      };
    },
  };
}

/** Whether a process with this pid exists (one of another user counts: it cannot be signalled). */
function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}
