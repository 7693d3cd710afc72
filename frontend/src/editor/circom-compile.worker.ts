/**
 * A Web Worker that compiles circom source for the editor (`compile-circuit.ts` starts one per
 * compilation): the compiler (`circom2`'s WebAssembly, 9 MB), circomlib's circuits and the powers
 * of tau all come from this origin, loaded here so the page stays responsive.
 */
import circomUrl from 'circom2/circom.wasm?url';
import { CircomSandbox } from '../../../browser-node/src/core/circom-sandbox.ts';
import ptauUrl from '../../../circuits/ptau/pot12.ptau?url';
import { compileCircom } from './circom-compiler.ts';

// Every circomlib circuit, each a lazily loaded chunk: only what the source includes is fetched.
const circomlib = import.meta.glob('../../../node_modules/circomlib/circuits/**/*.circom', {
  query: '?raw',
  import: 'default',
}) as Record<string, () => Promise<string>>;
const PREFIX = '../../../node_modules/';

const bytes = async (url: string) => {
  const res = await fetch(url);
  if (!res.ok) throw new Error(`${url}: HTTP ${res.status}`);
  return new Uint8Array(await res.arrayBuffer());
};

self.addEventListener('message', async (event: MessageEvent<{ source: string; name?: string }>) => {
  try {
    const [circom, ptau] = await Promise.all([
      WebAssembly.compileStreaming(fetch(circomUrl)),
      bytes(ptauUrl),
    ]);
    await CircomSandbox.warm();
    const result = await compileCircom({
      source: event.data.source,
      circom,
      ptau,
      ...(event.data.name ? { name: event.data.name } : {}),
      library: async (path) => circomlib[`${PREFIX}${path}`]?.(),
    });
    self.postMessage(result);
  } catch (error) {
    self.postMessage({ ok: false, stage: 'compile', message: (error as Error).message });
  }
});
