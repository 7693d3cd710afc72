import { useEffect, useMemo, useRef, useState } from 'react';
import { useNavigate } from 'react-router';
import { useConnection } from 'wagmi';
import { type CircuitFiles, circuitManifest } from '../../../client/circuit.ts';
import type { Eip1193Provider } from '../../../client/index.ts';
import { isWasm, type JsonValue } from '../../../protocol/index.ts';
import type { AppConfig } from '../api/app-config.ts';
import { reportIfUnauthorized, useSession } from '../api/session.tsx';
import { registerSpec } from '../chain/wallet-chain.ts';
import { PreviewPanel, type PreviewState } from '../preview/preview-panel.tsx';
import { runPreview } from '../preview/run-preview.ts';
import { describeError } from '../ui/status.tsx';
import { Tabs } from '../ui/tabs.tsx';
import { compileAssemblyScript } from './assemblyscript.ts';
import { CIRCUIT_TEMPLATES, loadCircuitTemplate } from './circuit-templates.ts';
import { CodeEditor } from './code-editor.tsx';
import { compileCircuit } from './compile-circuit.ts';
import { InputsPanel, type InputsState, sourceOf } from './inputs-panel.tsx';
import { defaultOptions, type JobOptions, OptionsPanel, verificationSpec } from './options-panel.tsx';
import { parseInputs } from './parse-inputs.ts';
import { ProvingEstimate } from './proving-estimate.tsx';
import { type EditorRuntime, MONACO_LANGUAGE, RUNTIME_LABELS, templatesFor } from './templates.ts';

const RUNTIMES: EditorRuntime[] = ['python', 'js', 'wasm'];
const PREVIEW_INPUTS = 5;

const first = (runtime: EditorRuntime) => templatesFor(runtime)[0]!;

/**
 * Write a function, give inputs and options, preview it in this tab, and submit it as a job.
 * Previews run in the sandbox frame of `sandboxOrigin` (AppConfig) when there is one, so a
 * preview that runs out of memory takes down that frame, not the editor.
 */
export function EditorPage({
  sandboxOrigin,
  config,
}: {
  sandboxOrigin?: string | undefined;
  config?: AppConfig | undefined;
} = {}) {
  const { client, session } = useSession();
  const connection = useConnection();
  const navigate = useNavigate();
  const [runtime, setRuntime] = useState<EditorRuntime>('python');
  const [code, setCode] = useState<Record<EditorRuntime, string>>(() => ({
    js: first('js').code,
    python: first('python').code,
    wasm: first('wasm').code,
  }));
  const [templateId, setTemplateId] = useState<Record<EditorRuntime, string>>(() => ({
    js: first('js').id,
    python: first('python').id,
    wasm: first('wasm').id,
  }));
  const [wasmSource, setWasmSource] = useState<'assemblyscript' | 'upload'>('assemblyscript');
  const [upload, setUpload] = useState<{ name: string; bytes: Uint8Array } | undefined>();
  const [inputs, setInputs] = useState<InputsState>(() => ({
    mode: 'json',
    json: first('python').inputs,
    jsonl: undefined,
    range: { start: 0, end: 10, step: 1, inclusive: false },
  }));
  const [options, setOptions] = useState<JobOptions>(defaultOptions);
  // "Zero-knowledge proof" mode: a circuit template instead of a function, proven on the nodes.
  const [zk, setZk] = useState(false);
  const [circuitName, setCircuitName] = useState(CIRCUIT_TEMPLATES[0]!.name);
  const circuit = CIRCUIT_TEMPLATES.find((t) => t.name === circuitName) ?? CIRCUIT_TEMPLATES[0]!;
  // The circom source per template, as edited; a template's own source runs as built with the app.
  const [circomCode, setCircomCode] = useState<Record<string, string>>(() =>
    Object.fromEntries(CIRCUIT_TEMPLATES.map((t) => [t.name, t.source])),
  );
  const [constraints, setConstraints] = useState<number | undefined>();
  const [previewState, setPreviewState] = useState<PreviewState>({ status: 'idle' });
  const [busy, setBusy] = useState<'compiling' | 'loading' | 'previewing' | 'submitting' | undefined>();
  const [error, setError] = useState<{ title: string; message: string } | undefined>();
  const previewAbort = useRef<AbortController | undefined>(undefined);
  // Leaving the page stops a preview that is still running (its workers are terminated).
  useEffect(() => () => previewAbort.current?.abort(), []);

  // Parsed once per change of the inputs (a file may hold 100,000 lines), not once per render.
  const parsed = useMemo(() => {
    const source = sourceOf(inputs);
    return source ? parseInputs(source) : undefined;
  }, [inputs]);

  const chooseTemplate = (id: string) => {
    const t = templatesFor(runtime).find((x) => x.id === id);
    if (!t) return;
    setTemplateId({ ...templateId, [runtime]: id });
    setCode({ ...code, [runtime]: t.code });
    setInputs({ ...inputs, mode: 'json', json: t.inputs });
  };

  const switchZk = (on: boolean) => {
    setZk(on);
    setPreviewState({ status: 'idle' });
    setError(undefined);
    const json = on
      ? circuit.inputs
      : templatesFor(runtime).find((x) => x.id === templateId[runtime])?.inputs;
    if (json !== undefined) setInputs({ ...inputs, mode: 'json', json });
  };

  const chooseCircuit = (name: string) => {
    const t = CIRCUIT_TEMPLATES.find((x) => x.name === name);
    if (!t) return;
    setCircuitName(name);
    setCircomCode((c) => ({ ...c, [name]: t.source }));
    setPreviewState({ status: 'idle' });
    setInputs({ ...inputs, mode: 'json', json: t.inputs });
  };

  /**
   * The circuit to prove: a template as built with the app (from this origin), or the edited
   * source compiled and set up in this tab; or an error shown to the user.
   */
  const circuitFiles = async (): Promise<CircuitFiles | undefined> => {
    const source = circomCode[circuit.name] ?? circuit.source;
    if (source === circuit.source) {
      setBusy('loading');
      setConstraints(undefined);
      try {
        return await loadCircuitTemplate(circuit.name);
      } catch (e) {
        setError({ title: 'The circuit could not be loaded', message: describeError(e) });
        return undefined;
      }
    }
    setBusy('compiling');
    const result = await compileCircuit(source, circuit.name);
    if (!result.ok) {
      setError({ title: COMPILE_ERROR[result.stage], message: result.message });
      return undefined;
    }
    setConstraints(result.circuit.constraints);
    return result.circuit;
  };

  const switchRuntime = (next: EditorRuntime) => {
    setRuntime(next);
    setPreviewState({ status: 'idle' });
    setError(undefined);
    const t = templatesFor(next).find((x) => x.id === templateId[next]);
    if (t && inputs.mode === 'json') setInputs({ ...inputs, json: t.inputs });
  };

  /** The code to run: source text, or a module compiled from AssemblyScript or uploaded. */
  const buildCode = async (): Promise<string | Uint8Array | undefined> => {
    if (runtime !== 'wasm') return code[runtime];
    if (wasmSource === 'upload') {
      if (!upload) {
        setError({ title: 'No module', message: 'Choose a .wasm file (a WASI command module) first.' });
        return undefined;
      }
      return upload.bytes;
    }
    setBusy('compiling');
    const compiled = await compileAssemblyScript(code.wasm);
    if (!compiled.ok) {
      setError({ title: 'AssemblyScript did not compile', message: compiled.error });
      return undefined;
    }
    return compiled.wasm;
  };

  const inputsOrError = (): JsonValue[] | undefined => {
    if (parsed?.ok) return parsed.inputs;
    setError({
      title: 'The inputs are not ready',
      message: parsed ? parsed.error : 'Choose a JSON-lines file.',
    });
    return undefined;
  };

  const onPreview = async () => {
    setError(undefined);
    const list = inputsOrError();
    if (!list) return;
    previewAbort.current?.abort();
    const abort = new AbortController();
    previewAbort.current = abort;
    try {
      let spec: Parameters<typeof runPreview>[0];
      const limits = { timeoutMs: options.timeoutMs, memoryMb: options.memoryMb };
      if (zk) {
        const files = await circuitFiles();
        if (!files) return;
        // The manifest the job would carry; the preview proves with the files themselves.
        const manifest = await circuitManifest(files);
        spec = {
          runtime: 'circom',
          code: JSON.stringify(manifest),
          circuit: { wasm: files.wasm, zkey: files.zkey },
          inputs: list.slice(0, PREVIEW_INPUTS),
          ...limits,
        };
      } else {
        const built = await buildCode();
        if (!built) return;
        spec = { runtime, code: built, inputs: list.slice(0, PREVIEW_INPUTS), ...limits };
      }
      setBusy('previewing');
      setPreviewState({ status: 'running' });
      const tasks = await runPreview(spec, {
        maxInputs: PREVIEW_INPUTS,
        signal: abort.signal,
        sandboxOrigin,
      });
      if (!abort.signal.aborted) setPreviewState({ status: 'done', tasks });
    } catch (e) {
      if (!abort.signal.aborted) setPreviewState({ status: 'error', error: e });
    } finally {
      setBusy(undefined);
    }
  };

  const onSubmit = async () => {
    setError(undefined);
    if (!client) {
      setError({ title: 'Not signed in', message: 'Connect your wallet and sign in to submit a job.' });
      return;
    }
    const list = inputsOrError();
    if (!list) return;
    try {
      const built = zk ? await circuitFiles() : await buildCode();
      if (!built) return;
      if (built instanceof Uint8Array && !isWasm(built)) {
        setError({
          title: 'Not a WebAssembly module',
          message: 'The file does not start with the \\0asm header.',
        });
        return;
      }
      setBusy('submitting');
      // Registering the spec hash: the wallet signs one transaction, then the job is submitted.
      const register =
        options.registerSpec && config?.registry
          ? async ({ specHash }: { specHash: `0x${string}` }) => {
              const connector = connection.connector;
              if (!connector || !connection.address)
                throw new Error('connect your wallet to register the spec hash');
              setError(undefined);
              const provider = (await connector.getProvider()) as Eip1193Provider;
              await registerSpec(provider, config, connection.address, specHash);
            }
          : undefined;
      const common = {
        ...(register ? { beforeSubmit: register } : {}),
        timeoutMs: options.timeoutMs,
        memoryMb: options.memoryMb,
        maxAttempts: options.maxAttempts,
        ...(options.label.trim() ? { label: options.label.trim() } : {}),
      };
      const job =
        typeof built === 'object' && 'zkey' in built
          ? // A proven job: each input is an object of the circuit's public inputs (the API says which do not fit).
            await client.prove(built, list as Record<string, unknown>[], common)
          : await client.map(built, list, { ...common, runtime, ...verificationSpec(options) });
      navigate(`/jobs/${job.id}`);
    } catch (e) {
      reportIfUnauthorized(e);
      setError({ title: 'The job was not accepted', message: describeError(e) });
    } finally {
      setBusy(undefined);
    }
  };

  const templates = templatesFor(runtime);
  return (
    <div className="editor-page">
      <h1 className="visually-hidden">New job</h1>
      <section className="editor-column" aria-label="Code">
        {zk ? (
          <>
            <div className="toolbar">
              <span className="badge badge-verify-proven">Zero-knowledge proof: circom circuit, Groth16</span>
              <label>
                Circuit
                <select value={circuit.name} onChange={(e) => chooseCircuit(e.target.value)}>
                  {CIRCUIT_TEMPLATES.map((t) => (
                    <option key={t.name} value={t.name}>
                      {t.title}
                    </option>
                  ))}
                </select>
              </label>
            </div>
            <p className="hint">
              The template proves {circuit.proves}. Edit it or write your own: an edited circuit is compiled
              with circom and set up for Groth16 in this tab when you preview or submit (circomlib's circuits
              can be included). Every input must be public; each input below is an object of them, and the
              output is the public signals (outputs first, then the inputs).
            </p>
            <CodeEditor
              key={`circom-${circuit.name}`}
              label={`${circuit.title} (circom)`}
              language="circom"
              value={circomCode[circuit.name] ?? circuit.source}
              onChange={(v) => setCircomCode((c) => ({ ...c, [circuit.name]: v }))}
            />
          </>
        ) : null}
        {zk ? null : (
          <div className="toolbar">
            <Tabs
              label="Runtime"
              tabs={RUNTIMES.map((r) => [r, RUNTIME_LABELS[r]] as const)}
              value={runtime}
              onChange={switchRuntime}
            />
            {runtime === 'wasm' ? (
              <label>
                Source
                <select
                  value={wasmSource}
                  onChange={(e) => setWasmSource(e.target.value as 'assemblyscript' | 'upload')}
                >
                  <option value="assemblyscript">AssemblyScript (compiled here)</option>
                  <option value="upload">Upload a .wasm file</option>
                </select>
              </label>
            ) : null}
            {runtime !== 'wasm' || wasmSource === 'assemblyscript' ? (
              <label>
                Template
                <select value={templateId[runtime]} onChange={(e) => chooseTemplate(e.target.value)}>
                  {templates.map((t) => (
                    <option key={t.id} value={t.id}>
                      {t.name}
                    </option>
                  ))}
                </select>
              </label>
            ) : null}
          </div>
        )}
        {zk ? null : <p className="hint">{CONTRACT[runtime]}</p>}
        {zk ? null : runtime === 'wasm' && wasmSource === 'upload' ? (
          <div className="panel upload">
            <label>
              WASI command module (.wasm)
              <input
                type="file"
                accept=".wasm,application/wasm"
                onChange={async (e) => {
                  const file = e.target.files?.[0];
                  if (file) setUpload({ name: file.name, bytes: new Uint8Array(await file.arrayBuffer()) });
                }}
              />
            </label>
            <p className="muted" role="status">
              {upload
                ? `${upload.name}: ${upload.bytes.byteLength.toLocaleString()} bytes${isWasm(upload.bytes) ? '' : ' (not a WebAssembly module!)'}`
                : 'No file chosen.'}
            </p>
          </div>
        ) : (
          <CodeEditor
            key={runtime}
            label={`${RUNTIME_LABELS[runtime]} code`}
            language={MONACO_LANGUAGE[runtime]}
            value={code[runtime]}
            onChange={(v) => setCode((c) => ({ ...c, [runtime]: v }))}
          />
        )}
      </section>
      <section className="side-column" aria-label="Inputs and options">
        <InputsPanel state={inputs} onChange={setInputs} parsed={parsed} />
        <OptionsPanel
          options={options}
          onChange={setOptions}
          canRegister={Boolean(config?.registry)}
          zk={zk}
          onZkChange={switchZk}
        />
        <div className="actions">
          <button
            type="button"
            onClick={onPreview}
            disabled={Boolean(busy)}
            title={`Run on the first ${PREVIEW_INPUTS} inputs in this tab, before submitting`}
          >
            {busy === 'previewing' ? 'Previewing…' : `Preview (first ${PREVIEW_INPUTS} inputs)`}
          </button>
          <button type="button" className="primary" onClick={onSubmit} disabled={Boolean(busy)}>
            {busy === 'submitting' ? 'Submitting…' : 'Submit job'}
          </button>
        </div>
        <p className="muted" role="status">
          {busy === 'compiling'
            ? zk
              ? 'Compiling the circuit and setting it up for Groth16…'
              : 'Compiling AssemblyScript…'
            : null}
          {busy === 'loading' ? 'Loading the circuit…' : null}
          {!session ? 'Sign in with your wallet to submit; preview works without signing in.' : null}
        </p>
        {error ? (
          <div className="status status-error" role="alert">
            <strong>{error.title}</strong>
            <pre>{error.message}</pre>
          </div>
        ) : null}
        {zk && previewState.status === 'done' && parsed?.ok ? (
          <ProvingEstimate
            tasks={previewState.tasks}
            inputs={parsed.inputs.length}
            constraints={constraints}
          />
        ) : null}
        <PreviewPanel state={previewState} />
      </section>
    </div>
  );
}

const COMPILE_ERROR = {
  include: 'An include was not found',
  compile: 'The circuit did not compile',
  inputs: 'The circuit cannot be a proven job',
  setup: 'The circuit could not be set up',
} as const;

const CONTRACT: Record<EditorRuntime, string> = {
  python: 'Define main(input): it gets one JSON input and returns a JSON value. print() goes to the logs.',
  js: 'export default a function (input) => output (may be async). console.log goes to the logs.',
  wasm: 'A WASI command: read the input JSON on stdin, write the output JSON on stdout; stderr is the log.',
};
