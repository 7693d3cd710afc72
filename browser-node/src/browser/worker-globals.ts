/**
 * What a sandbox Web Worker takes away from its own global scope before it runs anything of a
 * task's. Tasks never see the worker's globals (JS runs in a SES Compartment with only its
 * endowments; wasm gets only its WASI imports; Python loads with empty `jsglobals`), so this is
 * the second line: even code that escaped the first would find no network, no storage, no way to
 * start other workers or to talk to anything but the host (whose port the worker keeps).
 */
const REMOVED = [
  'fetch',
  'XMLHttpRequest',
  'WebSocket',
  'WebTransport',
  'EventSource',
  'importScripts',
  'indexedDB',
  'caches',
  'BroadcastChannel',
  'Worker',
  'SharedWorker',
  'RTCPeerConnection',
  'RTCDataChannel',
  'navigator',
  'cookieStore',
  'storageFoundation',
] as const;

/** Removes the network and storage APIs from `scope` (a worker's `self`). */
export function closeWorkerGlobals(scope: typeof globalThis): void {
  for (const name of REMOVED) {
    try {
      // Own properties and the prototype chain's accessors (e.g. `WorkerGlobalScope.prototype.caches`).
      for (let target: object | null = scope; target; target = Object.getPrototypeOf(target)) {
        if (Object.getOwnPropertyDescriptor(target, name)?.configurable) Reflect.deleteProperty(target, name);
      }
      if (name in scope) Object.defineProperty(scope, name, { value: undefined, configurable: false });
    } catch {
      // A property the engine does not let go of is checked by the isolation tests.
    }
  }
}

/** A macrotask for `JsSandbox`: a MessageChannel round trip (setTimeout(0) is clamped to 4 ms). */
export function messageChannelMacrotask(): Promise<void> {
  return new Promise((resolve) => {
    const { port1, port2 } = new MessageChannel();
    port1.onmessage = () => {
      port1.close();
      resolve();
    };
    port2.postMessage(null);
  });
}

/** The part of a dedicated worker's global scope the entry points use (the DOM lib has no worker types). */
export interface WorkerScope {
  postMessage(message: unknown): void;
  addEventListener(type: 'message', listener: (event: MessageEvent) => void): void;
  addEventListener(type: 'unhandledrejection', listener: (event: PromiseRejectionEvent) => void): void;
}

export const workerScope = globalThis as unknown as WorkerScope;
