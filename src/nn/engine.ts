/**
 * The neural-network engine: TensorFlow.js with the fastest backend this machine can run.
 *
 * - 'tensorflow': `@tensorflow/tfjs-node` (native libtensorflow), the fastest CPU backend. It is an
 *   optional peer: used when importable, never a dependency (its install downloads libtensorflow).
 * - 'wasm': XNNPACK with SIMD, loaded from node_modules by file path, with the project's kernel
 *   fixes registered (see `kernels/register.ts`); single-threaded, because two worker_threads each
 *   with its own engine use two cores better than one multi-threaded engine (docs: engine.md).
 * - 'cpu': pure JavaScript, hundreds of times slower than wasm; a reference for gradient checks.
 */
import { availableParallelism } from 'node:os';
import { createRequire } from 'node:module';
import { dirname } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
// tfjs-core's Node bundle registers no gradients; the tfjs-layers bundle registers them all.
import '@tensorflow/tfjs-layers';
import { setThreadsCount, setWasmPaths } from '@tensorflow/tfjs-backend-wasm';
import { PoisonguardError, UnknownNameError } from '../errors.js';
import { registerWasmKernelFixes } from './kernels/register.js';

/** Backends that can be asked for; 'auto' picks the first that works of tensorflow, wasm, cpu. */
export const BACKENDS = ['auto', 'tensorflow', 'wasm', 'cpu'] as const;
export type BackendChoice = (typeof BACKENDS)[number];
export type BackendName = Exclude<BackendChoice, 'auto'>;

/** The default backend choice. */
export const DEFAULT_BACKEND: BackendChoice = 'auto';

/** The optional native package, named through a variable so that type-checking never needs it. */
const TFJS_NODE_PACKAGE = '@tensorflow/tfjs-node';

export interface EngineOptions {
  /** Which backend to use; 'auto' (default) = tensorflow if importable, else wasm, else cpu. */
  readonly backend?: BackendChoice;
}

export interface EngineInfo {
  /** The backend actually in use. */
  readonly backend: BackendName;
  /** Version of @tensorflow/tfjs-core. */
  readonly tfjsVersion: string;
  /** Compute threads of the backend (wasm and cpu: 1; tensorflow: its intra-op pool, all cores). */
  readonly threads: number;
}

let wasmConfigured = false;
/** The backend this module last activated (tf.getBackend() alone would pick one on its own when none is set). */
let activeBackend: BackendName | undefined;
let tfjsNodeTried: boolean | undefined;

/** Chooses, initializes and activates the backend; safe to call again (switches backends). */
export async function initEngine(options: EngineOptions = {}): Promise<EngineInfo> {
  const choice = options.backend ?? DEFAULT_BACKEND;
  if (!(BACKENDS as readonly string[]).includes(choice)) throw new UnknownNameError('backend', String(choice), BACKENDS);

  if (choice === 'tensorflow' || choice === 'auto') {
    const error = await importTfjsNode();
    if (error === undefined && (await activate('tensorflow'))) return describe('tensorflow');
    if (choice === 'tensorflow') {
      throw new PoisonguardError(
        'invalid-option',
        `The 'tensorflow' backend needs the optional package ${TFJS_NODE_PACKAGE} (same version as ` +
          `@tensorflow/tfjs-core, ${tf.version_core}), which could not be loaded: ${error ?? 'its backend did not initialize'}. ` +
          `Install it with 'npm i ${TFJS_NODE_PACKAGE}@${tf.version_core}', or use the backend 'wasm'.`,
        { path: 'backend', expected: `${TFJS_NODE_PACKAGE} importable`, received: 'tensorflow' },
        { cause: error },
      );
    }
  }
  if (choice === 'wasm' || choice === 'auto') {
    configureWasm();
    if (await activate('wasm')) return describe('wasm');
    if (choice === 'wasm') {
      throw new PoisonguardError('invalid-option', `The 'wasm' backend of TensorFlow.js failed to initialize; use the backend 'cpu'.`, {
        path: 'backend',
        received: 'wasm',
      });
    }
  }
  if (!(await activate('cpu'))) throw new PoisonguardError('invalid-option', `The 'cpu' backend of TensorFlow.js failed to initialize.`);
  return describe('cpu');
}

/** Imports tfjs-node once; returns undefined on success, else the reason it failed. */
async function importTfjsNode(): Promise<string | undefined> {
  if (tfjsNodeTried === true) return undefined;
  if (tfjsNodeTried === false) return `${TFJS_NODE_PACKAGE} is not installed or failed to load`;
  try {
    const name = TFJS_NODE_PACKAGE;
    await import(name);
    tfjsNodeTried = true;
    return undefined;
  } catch (e) {
    tfjsNodeTried = false;
    return (e as Error).message?.split('\n')[0] ?? String(e);
  }
}

/** Points the wasm backend at its binaries in node_modules (no network), one thread, with the fixes. */
function configureWasm(): void {
  if (wasmConfigured) return;
  const require = createRequire(import.meta.url);
  const main = require.resolve('@tensorflow/tfjs-backend-wasm'); // …/tfjs-backend-wasm/dist/tf-backend-wasm.node.js
  setWasmPaths(`${dirname(main)}/`);
  setThreadsCount(1);
  tf.env().set('WASM_HAS_MULTITHREAD_SUPPORT', false);
  registerWasmKernelFixes();
  wasmConfigured = true;
}

async function activate(name: BackendName): Promise<boolean> {
  if (tf.findBackendFactory(name) == null) return false;
  // Already the engine's backend (several scans in one process, a zoo's models, each initialise):
  // setting it again under another scan's kernels in flight left them a half-set engine ("Cannot
  // read properties of undefined (reading 'get')").
  if (activeBackend === name && tf.getBackend() === name) return true;
  let ok = false;
  try {
    ok = await tf.setBackend(name);
  } catch {
    ok = false;
  }
  activeBackend = ok ? name : undefined;
  if (name === 'cpu') silenceCpuGreeting();
  return ok;
}

/**
 * The cpu backend prints an advertisement for tfjs-node on its first use; the library never
 * writes to the terminal, and the user chose (or was given) that backend knowingly.
 */
function silenceCpuGreeting(): void {
  const cpu = tf.findBackend('cpu') as unknown as { firstUse?: boolean } | null;
  if (cpu && 'firstUse' in cpu) cpu.firstUse = false;
}

function describe(backend: BackendName): EngineInfo {
  return {
    backend,
    tfjsVersion: tf.version_core,
    threads: backend === 'tensorflow' ? availableParallelism() : 1,
  };
}
