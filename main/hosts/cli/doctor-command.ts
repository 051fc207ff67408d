/**
 * `seedbed doctor`: what this computer offers Seedbed, for someone who has never heard of
 * backends. Each TensorFlow.js engine in the runtime's order (usable here, or why not and
 * the fix), the one the studio will use and whether SEEDBED_BACKEND overrides it, and where
 * the pretrained networks' weights were found.
 *
 * It only looks: the two native packages are imported, webgpu looks for an adapter without
 * opening a device, and only wasm and cpu (cheap, and nothing to go wrong with a GPU) are
 * started for real, in this process.
 */
import fs from 'node:fs';
import nodePath from 'node:path';
import type { BackendName } from '../../core/ml/runtime.ts';
import type { ParsedArgs } from './args.ts';
import { wrap } from './args.ts';
import { call, count, createCore, writeFully } from './session.ts';

/** The GPU adapter webgpu found, as `doctor --json` prints it. */
export interface AdapterReport {
  name: string;
  vendor: string;
  architecture: string;
  /** A software adapter (SwiftShader): it works, but more slowly than the CPU engines. */
  software: boolean;
  /** The largest buffer one kernel may bind: it caps the fine-tuning batch. */
  maxStorageBufferBindingMiB: number;
}

/** One engine, as `doctor --json` prints it. */
export interface BackendCheck {
  name: BackendName;
  /** What it runs on, in a user's words. */
  runsOn: string;
  /** It can run here (webgpu on a software adapter: only when SEEDBED_BACKEND asks for it). */
  usable: boolean;
  /** Seedbed's automatic choice may take it (a software adapter it never takes). */
  automatic: boolean;
  /** What was found: the GPU adapter, whether wasm has SIMD. */
  detail: string | null;
  /** Why it cannot run here, or runs worse than it could; null when nothing is in the way. */
  reason: string | null;
  /** What would change that. */
  fix: string | null;
  /** webgpu only: the adapter, or null when none was found. */
  adapter?: AdapterReport | null;
  /** wasm only: whether WebAssembly SIMD is on (without it wasm is several times slower); null when wasm did not start. */
  simd?: boolean | null;
}

/** A place Seedbed looks for backbone weights, in its order. */
export interface ModelsPlace {
  source: 'folder' | 'cache' | 'env';
  /** null: no folder chosen in the studio, or SEEDBED_MODELS_DIR not set. */
  path: string | null;
  exists: boolean;
}

/** Something that keeps Seedbed from training here, and what to do. */
export interface DoctorProblem {
  problem: string;
  fix: string;
}

/** What `seedbed doctor --json` prints: exactly these keys. */
export interface DoctorReport {
  backends: BackendCheck[];
  /** The engine Seedbed chooses when SEEDBED_BACKEND is not set: the first usable, automatic one. */
  automaticChoice: BackendName | null;
  /** SEEDBED_BACKEND when it is set. */
  seedbedBackend: { value: string; valid: boolean } | null;
  /** The engine the studio and the CLI will train on, SEEDBED_BACKEND considered; null when none can start. */
  uses: BackendName | null;
  models: {
    lookIn: ModelsPlace[];
    found: { id: string; source: 'folder' | 'cache' | 'env'; dir: string; isDefault: boolean }[];
    missing: { id: string; downloadable: boolean }[];
  };
  problems: DoctorProblem[];
  /** Seedbed can train here (exit status 0). */
  ready: boolean;
}

const RUNS_ON: Record<BackendName, string> = {
  'tensorflow-gpu': 'NVIDIA GPUs with CUDA 11 and cuDNN 8',
  webgpu: 'any GPU, through Vulkan, Metal or Direct3D 12',
  tensorflow: "the CPU, through TensorFlow's own library",
  wasm: 'the CPU, through WebAssembly',
  cpu: 'the CPU, in plain JavaScript (slowest)',
};

const NATIVE_FIX = {
  'tensorflow-gpu': {
    absent:
      "only for NVIDIA GPUs with CUDA 11.x and cuDNN 8 (Linux or Windows): run `npm install @tensorflow/tfjs-node-gpu` in Seedbed's folder (it downloads TensorFlow, so it needs the internet). Without it, webgpu uses the same GPU",
    broken: 'install CUDA 11.x and cuDNN 8, which this package needs exactly, or uninstall it and let webgpu use the GPU',
  },
  tensorflow: {
    absent: "optional: run `npm install @tensorflow/tfjs-node` in Seedbed's folder (it downloads TensorFlow, so it needs the internet). Without it, wasm does the same work on the CPU",
    broken: "reinstall it: `npm install @tensorflow/tfjs-node` in Seedbed's folder (it needs the internet)",
  },
} as const;

const SOURCE_NAMES: Record<ModelsPlace['source'], string> = {
  folder: 'the folder you chose in the studio',
  cache: "Seedbed's model cache (downloads land here)",
  env: 'SEEDBED_MODELS_DIR',
};

function check(name: BackendName, fields: Omit<Partial<BackendCheck>, 'name' | 'runsOn'> & Pick<BackendCheck, 'usable'>): BackendCheck {
  const { usable, automatic = usable, detail = null, reason = null, fix = null, ...only } = fields;
  return { name, runsOn: RUNS_ON[name], usable, automatic, detail, reason, fix, ...only };
}

function firstLine(err: unknown): string {
  return (err instanceof Error ? err.message : String(err)).split('\n')[0]!;
}

/** The native packages are optional dependencies: importing them is the whole check. */
async function checkNative(name: 'tensorflow-gpu' | 'tensorflow'): Promise<BackendCheck> {
  const pkg = name === 'tensorflow-gpu' ? '@tensorflow/tfjs-node-gpu' : '@tensorflow/tfjs-node';
  try {
    await import(pkg);
    return check(name, { usable: true, detail: `${pkg} loads` });
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    const absent = (code === 'ERR_MODULE_NOT_FOUND' || code === 'MODULE_NOT_FOUND') && firstLine(err).includes(`'${pkg}'`);
    return absent
      ? check(name, { usable: false, reason: `${pkg}, an optional package, is not installed`, fix: NATIVE_FIX[name].absent })
      : check(name, { usable: false, reason: `${pkg} is installed but does not load (${firstLine(err)})`, fix: NATIVE_FIX[name].broken });
  }
}

async function checkWebGpu(): Promise<BackendCheck> {
  const { probeAdapter } = await import('../../core/ml/webgpu.ts');
  const probe = await probeAdapter();
  if (!probe.ok) return check('webgpu', { usable: false, reason: probe.reason, fix: probe.fix, adapter: null });
  const s = probe.summary;
  const adapter: AdapterReport = {
    name: s.name,
    vendor: s.vendor,
    architecture: s.architecture,
    software: s.fallback,
    maxStorageBufferBindingMiB: Math.floor(s.maxStorageBufferBindingSize / 2 ** 20),
  };
  const detail = `found ${s.name}${s.fallback ? ', a software GPU (a program, no graphics card)' : ''}, which takes buffers of up to ${count(adapter.maxStorageBufferBindingMiB)} MiB`;
  if (!s.fallback) return check('webgpu', { usable: true, detail, adapter });
  return check('webgpu', {
    usable: true,
    automatic: false,
    detail,
    adapter,
    reason: 'it found only a software adapter, which is slower than the CPU engines, so Seedbed uses it only when SEEDBED_BACKEND=webgpu asks for it',
    fix: "if this computer has a GPU, install or update its driver (Vulkan on Linux, Direct3D 12 on Windows); if it has none, there is nothing to do",
  });
}

/** Starts wasm or cpu in this process, through the runtime itself. */
async function startCpuEngine(name: 'wasm' | 'cpu'): Promise<string | null> {
  const { activateBackend } = await import('../../core/ml/runtime.ts');
  try {
    await activateBackend({ SEEDBED_BACKEND: name });
    return null;
  } catch (err) {
    // The runtime words it for a forced choice ("SEEDBED_BACKEND asks for wasm, but …"): keep the cause.
    const message = firstLine(err);
    return /, but (.*?)\.? Unset it/.exec(message)?.[1] ?? message;
  }
}

async function checkWasm(): Promise<BackendCheck> {
  const failed = await startCpuEngine('wasm');
  if (failed) return check('wasm', { usable: false, reason: failed, fix: "reinstall Seedbed (`npm ci` in its folder): the engine's .wasm files come with @tensorflow/tfjs-backend-wasm", simd: null });
  const tf = await import('@tensorflow/tfjs-core');
  const simd = Boolean(await tf.env().getAsync('WASM_HAS_SIMD_SUPPORT'));
  if (simd) return check('wasm', { usable: true, detail: 'with SIMD, the fast kind of WebAssembly', simd });
  return check('wasm', {
    usable: true,
    detail: 'without SIMD',
    reason: 'WebAssembly SIMD is off, which makes this engine several times slower',
    fix: 'use Node.js 20.19 or newer (or the desktop app), where SIMD is on',
    simd,
  });
}

async function checkCpu(): Promise<BackendCheck> {
  const failed = await startCpuEngine('cpu');
  return failed ? check('cpu', { usable: false, reason: failed, fix: 'reinstall Seedbed (`npm ci` in its folder)' }) : check('cpu', { usable: true });
}

const CHECKS: Record<BackendName, () => Promise<BackendCheck>> = {
  'tensorflow-gpu': () => checkNative('tensorflow-gpu'),
  webgpu: checkWebGpu,
  tensorflow: () => checkNative('tensorflow'),
  wasm: checkWasm,
  cpu: checkCpu,
};

async function checkModels(): Promise<DoctorReport['models']> {
  const core = await createCore('cli');
  try {
    const { modelCacheDir, readSettings } = await import('../../core/ml/models.ts');
    const backbones = await call(core, 'ml.backbones', {});
    const place = (source: ModelsPlace['source'], path: string | null): ModelsPlace => {
      const resolved = path ? nodePath.resolve(path) : null;
      return { source, path: resolved, exists: resolved !== null && fs.existsSync(resolved) && fs.statSync(resolved).isDirectory() };
    };
    return {
      lookIn: [place('folder', readSettings(core).modelsFolder ?? null), place('cache', modelCacheDir(core)), place('env', process.env.SEEDBED_MODELS_DIR || null)],
      found: backbones.flatMap((b) => (b.source && b.dir ? [{ id: b.id, source: b.source, dir: b.dir, isDefault: b.isDefault }] : [])),
      missing: backbones.filter((b) => b.source === null).map((b) => ({ id: b.id, downloadable: b.downloadable })),
    };
  } finally {
    await core.close();
  }
}

/** Looks at this computer, under this process's environment (SEEDBED_BACKEND, SEEDBED_MODELS_DIR); changes nothing. */
export async function diagnose(): Promise<DoctorReport> {
  const { BACKENDS } = await import('../../core/ml/runtime.ts');
  // In the runtime's order; one at a time, as the runtime tries them.
  const backends: BackendCheck[] = [];
  for (const name of BACKENDS) backends.push(await CHECKS[name]());
  const automaticChoice = backends.find((b) => b.usable && b.automatic)?.name ?? null;
  const models = await checkModels();
  const problems: DoctorProblem[] = [];
  const otherwise = automaticChoice ? ` (Seedbed would then use ${automaticChoice})` : '';

  const value = process.env.SEEDBED_BACKEND?.trim() || null;
  const forced = value === null ? null : backends.find((b) => b.name === value) ?? null;
  let uses: BackendName | null = automaticChoice;
  if (value !== null) {
    uses = forced?.usable ? forced.name : null;
    if (!forced) {
      problems.push({
        problem: `SEEDBED_BACKEND is "${value}", which is not an engine Seedbed knows, so training would stop with an error`,
        fix: `set it to one of ${BACKENDS.join(', ')}, or unset it to let Seedbed choose${otherwise}`,
      });
    } else if (!forced.usable) {
      problems.push({
        problem: `SEEDBED_BACKEND asks for ${value}, which cannot run here: ${forced.reason}`,
        fix: `${forced.fix}; or unset SEEDBED_BACKEND${otherwise}`,
      });
    }
  }
  if (automaticChoice === null && problems.length === 0) {
    problems.push({ problem: 'No TensorFlow.js engine can run here, not even on the CPU', fix: "reinstall Seedbed (`npm ci` in its folder)" });
  }
  if (models.found.length === 0) {
    problems.push({
      problem: 'No pretrained network (backbone) is on this computer, so Seedbed cannot train or run the checks that compare images',
      fix: 'in the studio\'s Train view, choose "Use a models folder…" or "Download one" (needs the internet once), or set SEEDBED_MODELS_DIR to a folder holding, for example, mobilenet_v1_0.75_224/model.json',
    });
  }
  return {
    backends,
    automaticChoice,
    seedbedBackend: value === null ? null : { value, valid: forced !== null },
    uses,
    models,
    problems,
    ready: problems.length === 0,
  };
}

const INDENT = '      ';

/** A line under an engine, wrapped with a hanging indent. */
function note(label: string, text: string): string[] {
  return wrap(text, 78 - INDENT.length - label.length).map((l, i) => INDENT + (i === 0 ? label : ' '.repeat(label.length)) + l);
}

/** A sentence of its own, wrapped. */
function paragraph(text: string, indent = ''): string[] {
  return wrap(text, 78 - indent.length).map((l, i) => (i === 0 ? l : indent + l));
}

function describeReport(report: DoctorReport): string[] {
  const lines = ['Engines (TensorFlow.js backends), in the order Seedbed tries them:'];
  for (const b of report.backends) {
    const status = !b.usable ? 'not usable' : b.automatic ? 'usable' : 'only if asked';
    lines.push(`  ${b.name.padEnd(16)}${status.padEnd(15)}${b.runsOn}`);
    if (b.detail) lines.push(...note('', b.detail));
    if (b.reason) lines.push(...note('why: ', b.reason));
    if (b.fix) lines.push(...note('fix: ', b.fix));
  }

  const { uses, automaticChoice, seedbedBackend: set } = report;
  let choice: string;
  if (set === null) {
    choice = uses
      ? `Seedbed will use ${uses}: the first engine above that works here. To choose another, set SEEDBED_BACKEND to its name (for example SEEDBED_BACKEND=cpu).`
      : 'Seedbed has no engine to run on here.';
  } else if (!set.valid) {
    choice = `Seedbed cannot train: SEEDBED_BACKEND is "${set.value}", which is not an engine Seedbed knows (see below).`;
  } else if (uses) {
    choice = `Seedbed will use ${uses}, because SEEDBED_BACKEND asks for it${automaticChoice && automaticChoice !== uses ? ` (without it, Seedbed would choose ${automaticChoice})` : ''}.`;
  } else {
    choice = `Seedbed cannot train: SEEDBED_BACKEND asks for ${set.value}, which cannot run here (see below).`;
  }
  if (uses && uses !== 'tensorflow-gpu' && uses !== 'webgpu') {
    choice += ' That is the CPU: enough to train classifiers; fine-tuning the pretrained network is slower than on a GPU.';
  }
  lines.push('', ...paragraph(choice));

  lines.push('', 'Pretrained networks (backbones) are looked for in this order:');
  report.models.lookIn.forEach((p, i) => {
    const missing = p.source === 'cache' ? ' (nothing downloaded yet)' : ' (this folder does not exist)';
    const where = p.path === null ? (p.source === 'env' ? 'not set' : 'none chosen') : `${p.path}${p.exists ? '' : missing}`;
    lines.push(`  ${i + 1}. ${SOURCE_NAMES[p.source]}: ${where}`);
  });
  const { found, missing } = report.models;
  if (found.length > 0) {
    lines.push(`Found ${found.length} of the ${found.length + missing.length} Seedbed knows:`);
    const width = Math.max(...found.map((f) => f.id.length));
    for (const f of found) lines.push(`  ${f.id.padEnd(width)}  ${(f.isDefault ? 'default' : '').padEnd(7)}  ${f.dir}`);
    if (missing.length > 0) {
      const example = missing[0]!.id;
      lines.push(
        ...paragraph(
          `Not here, and not needed: ${missing.map((m) => m.id).join(', ')}. To add one, use the studio's Train view ("Use a models folder…" or "Download one"), or put its folder (${example}/model.json) in one of the folders above.`,
        ),
      );
    }
  }

  lines.push('');
  if (report.ready) {
    lines.push('Everything Seedbed needs is here.');
  } else {
    lines.push(report.problems.length === 1 ? 'To fix before Seedbed can train here:' : `To fix before Seedbed can train here (${report.problems.length} things):`);
    report.problems.forEach((p, i) => lines.push(...paragraph(`${i + 1}. ${p.problem}. Fix: ${p.fix}.`, '   ')));
  }
  return lines;
}

/** Exit status 0 when Seedbed can train here (a CPU is enough), 1 when something must be fixed first. */
export async function runDoctor(args: ParsedArgs): Promise<number> {
  const report = await diagnose();
  const text = args.flags.has('json') ? JSON.stringify(report) : describeReport(report).join('\n');
  await writeFully(process.stdout, `${text}\n`);
  return report.ready ? 0 : 1;
}
