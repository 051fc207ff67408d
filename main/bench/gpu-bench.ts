/**
 * `npm run bench:gpu`: training and embedding speed per TensorFlow.js backend present, printed
 * as one table (issue 9's benchmark), so that the GPU engine and the CPU fallback are measured
 * the same way.
 *
 * Per backend (webgpu when an adapter is found, wasm, cpu), one row each:
 * - embeddings/s of the backbone's feature model (what the embedding worker runs) on random
 *   224×224 pixels: batches of 64 and 128 on a GPU, 16 on the CPU backends, after a warm-up batch;
 * - head training: seconds for trainClassifier with DEFAULT_TRAIN_CONFIG (health measured) on
 *   2,000 synthetic, learnable embeddings of the backbone's width (6 classes, 400 for validation);
 * - fine-tuning img/s through the top 2 blocks and through all layers (cut at the stem conv) at
 *   batch 32 on a GPU, 32 and 16 on wasm, 16 on cpu and the software GPU: ms per step, its
 *   JavaScript part (until its kernels are enqueued; on the CPU backends they run inside it),
 *   on webgpu its GPU time (shader timestamps), the kernel calls of one profiled step, and
 *   tensors and memory (GPU buffers on webgpu, the heap on wasm, RSS otherwise) before the steps
 *   and after each of two groups of steps: the same after both = flat from epoch to epoch.
 *   Each fine-tuning row is measured with Seedbed's gradient kernels and again with the
 *   backend's own (SEEDBED_GRADIENT_KERNELS=backend; wasm keeps the kernels it lacks); cpu
 *   has only its own.
 * Then issue 9's targets: the wasm full fine-tune of mobilenet_v1_0.25 at batch 16 completes,
 * wasm fine-tunes its top 2 blocks at least 5× faster than cpu, and on a GPU the speed targets
 * for mobilenet_v1_0.75.
 *
 * Each backend runs in its own child process (a process chooses its backend once, the gradient
 * kernels read SEEDBED_GRADIENT_KERNELS when they register, and the software GPU's environment
 * must be there when a process starts); a backend that fails shows its error in its rows.
 *
 *   SEEDBED_MODELS_DIR=../shared/models npm run bench:gpu -- [options]   (../shared/models is also the default)
 *
 *   --backends a,b     backends to measure (default webgpu,wasm,cpu; webgpu only where an adapter is found)
 *   --model ID[,ID]    backbones (default mobilenet_v1_0.75_224 on a GPU, mobilenet_v1_0.25_224 on the CPU backends)
 *   --software-gpu     measure webgpu on SwiftShader, a CPU emulation of a GPU (few steps; proves the path works)
 *   --steps N          timed fine-tuning steps per group (default 5 on a GPU, 3 on wasm, 1 on cpu and the software GPU)
 *   --kernels K        seedbed, backend or both (default both)
 *   --full             all-layers fine-tuning on cpu, and head training and all layers on the software GPU (left out by default: minutes each)
 *   --json FILE        also write every figure to FILE
 *
 * On the GPU machine: pack it here with `../shared/tools/gpu-pack main/bench/gpu-bench.ts --model
 * mobilenet_v1_0.75_224 --model mobilenet_v1_0.25_224`, then run there
 * `bash .gpu/run.sh --backends webgpu --json $OUT/gpu-bench.json` (run.sh sets SEEDBED_MODELS_DIR;
 * the bundle starts its children with itself). The bundle has no wasm backend (its .wasm files
 * do not travel), and cpu takes minutes: leave both to this machine. About 5 minutes of GPU time
 * with both kernel sets; `--kernels seedbed` halves the fine-tuning part.
 * Figures taken on a shared machine may be contended.
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import nodePath from 'node:path';
import { parseArgs } from 'node:util';
import { BACKENDS } from '../core/ml/runtime.ts';
import { softwareGpuEnv } from '../core/ml/software-gpu.ts';
import { runChild, type ChildMessage, type ChildPlan, type Figures, type Measurement, type MemorySnapshot } from './gpu-bench-steps.ts';

const CPU_MODEL = 'mobilenet_v1_0.25_224';
const GPU_MODEL = 'mobilenet_v1_0.75_224';
type KernelSet = ChildPlan['kernels'];

/**
 * How much each backend measures by default: a GPU gets big batches and many steps. The slow
 * backends get one step per group, and their slowest figures only when asked for (--full):
 * here cpu's filter gradients are naive loops (a top-2 step of v1 α0.25 at batch 16 takes about
 * 30 s, an all-layers step minutes; its head training about 3.5 minutes), and the software GPU
 * takes over 10 minutes to train the head.
 */
interface Budget {
  model: string;
  embedBatches: number[];
  embedRuns: number;
  fineTuneBatches: number[];
  warmup: number;
  steps: number;
  /** Count the kernels of one more, profiled, step. */
  profile: boolean;
  /** Head training and fine-tuning all layers (else left out unless --full). */
  head: boolean;
  allLayers: boolean;
}
const GPU_BUDGET: Budget = { model: GPU_MODEL, embedBatches: [64, 128], embedRuns: 5, fineTuneBatches: [32], warmup: 2, steps: 5, profile: true, head: true, allLayers: true };
const CPU_BUDGET: Budget = { model: CPU_MODEL, embedBatches: [16], embedRuns: 4, fineTuneBatches: [32, 16], warmup: 2, steps: 3, profile: true, head: true, allLayers: true };
const BUDGETS: Record<string, Budget> = {
  'tensorflow-gpu': GPU_BUDGET,
  webgpu: GPU_BUDGET,
  'webgpu (software)': { ...CPU_BUDGET, embedRuns: 1, fineTuneBatches: [16], steps: 1, head: false, allLayers: false },
  tensorflow: CPU_BUDGET,
  wasm: CPU_BUDGET,
  cpu: { ...CPU_BUDGET, embedRuns: 1, fineTuneBatches: [16], warmup: 1, steps: 1, profile: false, allLayers: false },
};
/** Backends whose gradient kernels Seedbed replaces (runtime.ts registers them). */
const WITH_SEEDBED_KERNELS = new Set(['wasm', 'webgpu']);

interface Options {
  backends: string[];
  models: string[] | null;
  software: boolean;
  steps: number | null;
  kernels: KernelSet[];
  /** Head training and all-layers fine-tuning on the slow backends too. */
  full: boolean;
  json: string | null;
}

function parseOptions(argv: string[]): Options {
  const { values } = parseArgs({
    args: argv,
    options: {
      backends: { type: 'string' },
      model: { type: 'string' },
      'software-gpu': { type: 'boolean' },
      steps: { type: 'string' },
      kernels: { type: 'string' },
      full: { type: 'boolean' },
      json: { type: 'string' },
    },
  });
  const list = (v: string | undefined): string[] | null => (v ? v.split(',').map((s) => s.trim()).filter(Boolean) : null);
  const backends = list(values.backends) ?? ['webgpu', 'wasm', 'cpu'];
  const unknown = backends.find((b) => !(BACKENDS as readonly string[]).includes(b));
  if (unknown) throw new Error(`--backends: "${unknown}" is not a backend; use some of ${BACKENDS.join(', ')}.`);
  const steps = values.steps === undefined ? null : Number(values.steps);
  if (steps !== null && !(Number.isInteger(steps) && steps >= 1)) throw new Error(`--steps takes a whole number of steps from 1, not "${values.steps}".`);
  const kernels = values.kernels ?? 'both';
  if (!['seedbed', 'backend', 'both'].includes(kernels)) throw new Error(`--kernels takes seedbed, backend or both, not "${kernels}".`);
  return {
    backends,
    models: list(values.model),
    software: values['software-gpu'] === true,
    steps,
    kernels: kernels === 'both' ? ['seedbed', 'backend'] : [kernels as KernelSet],
    full: values.full === true,
    json: values.json ?? null,
  };
}

function plannedMeasurements(budget: Budget, options: Options, fineTuneOnly: boolean): Measurement[] {
  const out: Measurement[] = [];
  for (const model of options.models ?? [budget.model]) {
    if (!fineTuneOnly) {
      for (const batch of budget.embedBatches) out.push({ kind: 'embeddings', model, batch, batches: budget.embedRuns });
      if (budget.head || options.full) out.push({ kind: 'head', model });
    }
    for (const blocks of ['top 2', 'all'] as const) {
      if (blocks === 'all' && !budget.allLayers && !options.full) continue;
      for (const batch of budget.fineTuneBatches) {
        out.push({ kind: 'finetune', model, blocks, batch, warmup: budget.warmup, steps: options.steps ?? budget.steps, profile: budget.profile });
      }
    }
  }
  return out;
}

interface Row {
  backend: string;
  kernels: KernelSet;
  measurement: Measurement;
  figures: Figures | null;
  error: string | null;
}

interface BackendReport {
  backend: string;
  kernels: KernelSet;
  /** The runtime's description (adapter name, SIMD), or why the backend is not measured. */
  detail: string | null;
  absent: string | null;
}

/** Runs one plan in a child process; every planned measurement comes back as a row, measured or failed. */
function runPlan(plan: ChildPlan, label: string, env: NodeJS.ProcessEnv): Promise<{ rows: Row[]; report: BackendReport }> {
  const rows: Row[] = plan.measurements.map((measurement) => ({ backend: label, kernels: plan.kernels, measurement, figures: null, error: null }));
  const report: BackendReport = { backend: label, kernels: plan.kernels, detail: null, absent: null };
  const script = process.argv[1]!;
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [...process.execArgv, script, '--child', JSON.stringify(plan)], { env, stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    child.on('message', (message: ChildMessage) => {
      if (message.type === 'backend') report.detail = message.detail;
      else if (message.type === 'absent') report.absent = message.reason;
      else if (message.type === 'result') rows[message.index]!.figures = message.figures;
      else rows[message.index]!.error = message.error;
    });
    const finish = (why: string): void => {
      let first = true;
      for (const row of rows) {
        if (row.figures || row.error) continue;
        row.error = first ? `the benchmark process stopped here (${why})` : 'not run: the benchmark process had stopped';
        first = false;
      }
      resolve({ rows: report.absent ? [] : rows, report });
    };
    child.on('error', (err) => finish(err.message));
    child.on('close', (code, signal) => finish(signal ? `signal ${signal}` : `exit code ${code}`));
  });
}

function childEnv(backend: string, kernels: KernelSet, software: boolean): NodeJS.ProcessEnv | string {
  const env: NodeJS.ProcessEnv = { ...process.env };
  // Run from the checkout, the shared models beside it serve when SEEDBED_MODELS_DIR is not set.
  const sharedModels = nodePath.resolve('../shared/models');
  if (!env.SEEDBED_MODELS_DIR && fs.existsSync(sharedModels)) env.SEEDBED_MODELS_DIR = sharedModels;
  delete env.SEEDBED_GRADIENT_KERNELS;
  if (kernels === 'backend') env.SEEDBED_GRADIENT_KERNELS = 'backend';
  if (backend === 'webgpu' && software) {
    const extra = softwareGpuEnv();
    if (!extra) return 'no software GPU here (SwiftShader comes with Debian\'s chromium package: apt install chromium)';
    Object.assign(env, extra);
  }
  return env;
}

// ---------- the table ----------

const MB = 1024 * 1024;
const fixed = (v: number | null | undefined, digits = 1): string => (v === null || v === undefined ? '–' : v.toFixed(digits));
const chain = (values: (number | undefined)[], scale = 1): string => values.map((v) => (v === undefined ? '?' : Math.round(v / scale))).join('→');

function describeMeasurement(m: Measurement): string {
  return m.kind === 'embeddings' ? 'embeddings' : m.kind === 'head' ? 'head training' : `fine-tune ${m.blocks}`;
}

/** Memory of the backend's pool; GPU memory on webgpu, both in use and allocated. */
function memoryText(snapshots: MemorySnapshot[]): string {
  const first = snapshots[0];
  if (!first) return '';
  if (first.gpuBytesInUse !== undefined) {
    return `GPU ${chain(snapshots.map((s) => s.gpuBytesInUse), MB)} MB (allocated ${chain(snapshots.map((s) => s.gpuBytesAllocated), MB)})`;
  }
  if (first.wasmHeapBytes !== undefined) return `heap ${chain(snapshots.map((s) => s.wasmHeapBytes), MB)} MB`;
  return `RSS ${chain(snapshots.map((s) => s.rssBytes), MB)} MB`;
}

/** Flat = tensors and the backend's pool the same after the second group of steps as after the first (RSS is too noisy to judge). */
function isFlat(snapshots: MemorySnapshot[]): boolean | null {
  const [a, b] = snapshots.slice(-2);
  if (!a || !b || snapshots.length < 3) return null;
  return a.tensors === b.tensors && a.gpuBytesInUse === b.gpuBytesInUse && a.gpuBytesAllocated === b.gpuBytesAllocated && a.wasmHeapBytes === b.wasmHeapBytes;
}

function resultText(row: Row): string {
  const f = row.figures;
  if (!f) return `FAILED: ${row.error ?? 'no result'}`;
  if (row.measurement.kind === 'head') {
    return `${fixed(f.seconds)} s (${f.epochs} epochs${f.stoppedEarly ? ', stopped early' : ''}, val acc ${fixed(f.valAccuracy, 2)})`;
  }
  return `${fixed(f.imagesPerSecond)} img/s`;
}

function table(rows: Row[]): string {
  const header = ['backend', 'grad kernels', 'model', 'measure', 'batch', 'result', 'ms/step', 'JS ms', 'GPU ms', 'kernels', 'tensors', 'flat', 'memory'];
  const lines = rows.map((row) => {
    const m = row.measurement;
    const f = row.figures;
    const memory = f?.memory ?? [];
    const flat = m.kind === 'finetune' ? isFlat(memory) : null;
    const named = [row.backend, m.kind === 'finetune' ? row.kernels : '', m.model.replace(/^mobilenet_/, '').replace(/_224$/, ''), describeMeasurement(m), 'batch' in m ? String(m.batch) : ''];
    if (!f) return [...named, resultText(row)];
    return [
      ...named,
      resultText(row),
      m.kind === 'finetune' ? fixed(f.msPerStep, 0) : '',
      m.kind === 'finetune' ? fixed(f.jsMsPerStep, 0) : '',
      f.gpuMsPerStep === undefined ? '' : f.gpuMsPerStep === null ? 'n/a' : fixed(f.gpuMsPerStep, 0),
      f.kernelsPerStep === undefined ? '' : String(f.kernelsPerStep),
      memory.length ? chain(memory.map((s) => s.tensors)) : '',
      flat === null ? '' : flat ? 'yes' : 'NO',
      memoryText(memory),
    ];
  });
  const cells = [header, ...lines];
  // A failed row ends in its message, which sets no column's width.
  const widths = header.map((_, i) => Math.max(...cells.filter((c) => c.length === header.length).map((c) => c[i]!.length)));
  const format = (c: string[]): string => c.map((v, i) => (i === c.length - 1 ? v : v.padEnd(widths[i]!))).join('  ').trimEnd();
  return [format(header), widths.map((w) => '-'.repeat(w)).join('  '), ...cells.slice(1).map(format)].join('\n');
}

// ---------- targets ----------

function findRow(rows: Row[], backend: string, kernels: KernelSet, kind: Measurement['kind'], model: string, blocks?: string, batch?: number): Row | undefined {
  return rows.find((r) => {
    const m = r.measurement;
    return r.backend === backend && r.kernels === kernels && m.kind === kind && m.model === model && (blocks === undefined || (m.kind === 'finetune' && m.blocks === blocks)) && (batch === undefined || ('batch' in m && m.batch === batch));
  });
}

/** Issue 9's targets, each as measured or why it was not. */
function targets(rows: Row[]): string[] {
  const lines: string[] = [];
  const full = findRow(rows, 'wasm', 'seedbed', 'finetune', CPU_MODEL, 'all', 16);
  lines.push(
    `wasm, full fine-tune of ${CPU_MODEL} at batch 16 (target: completes without running out of memory): ` +
      (!full ? 'not measured (needs wasm and that model)' : full.figures ? `completed (${fixed(full.figures.imagesPerSecond)} img/s)` : `FAILED: ${full.error}`),
  );
  const wasmTop = rows.filter((r) => r.backend === 'wasm' && r.kernels === 'seedbed' && r.figures && r.measurement.kind === 'finetune' && r.measurement.blocks === 'top 2' && r.measurement.model === CPU_MODEL);
  const pair = wasmTop.map((w) => [w, findRow(rows, 'cpu', 'backend', 'finetune', CPU_MODEL, 'top 2', (w.measurement as { batch: number }).batch)] as const).find(([, c]) => c?.figures);
  if (!pair) {
    lines.push(`wasm vs cpu, fine-tune top 2 of ${CPU_MODEL} (target: wasm ≥ 5× cpu): not measured (needs both backends at one batch size)`);
  } else {
    const [w, c] = pair;
    const ratio = w.figures!.imagesPerSecond! / c!.figures!.imagesPerSecond!;
    lines.push(
      `wasm vs cpu, fine-tune top 2 of ${CPU_MODEL} at batch ${(w.measurement as { batch: number }).batch} (target: wasm ≥ 5× cpu): ` +
        `wasm ${fixed(w.figures!.imagesPerSecond)} img/s, cpu ${fixed(c!.figures!.imagesPerSecond)} img/s = ${ratio.toFixed(1)}× (${ratio >= 5 ? 'met' : 'NOT met'})`,
    );
  }
  const gpu = (kind: Measurement['kind'], target: number, blocks?: string): string | null => {
    const hits = rows.filter((r) => r.backend === 'webgpu' && (kind === 'embeddings' || r.kernels === 'seedbed') && r.figures && r.measurement.kind === kind && r.measurement.model === GPU_MODEL && (blocks === undefined || (r.measurement.kind === 'finetune' && r.measurement.blocks === blocks && r.measurement.batch === 32)));
    if (!hits.length) return null;
    const best = Math.max(...hits.map((r) => r.figures!.imagesPerSecond!));
    return `${fixed(best)} img/s (target ≥ ${target}: ${best >= target ? 'met' : 'NOT met'})`;
  };
  const embeds = gpu('embeddings', 2000);
  if (embeds) {
    lines.push(`webgpu, ${GPU_MODEL}: embeddings ${embeds}; fine-tune all layers at batch 32 ${gpu('finetune', 300, 'all') ?? 'not measured'}; top 2 blocks ${gpu('finetune', 600, 'top 2') ?? 'not measured'}`);
  }
  return lines;
}

async function main(): Promise<void> {
  const options = parseOptions(process.argv.slice(2));
  const started = performance.now();
  const rows: Row[] = [];
  const reports: BackendReport[] = [];
  for (const backend of options.backends) {
    const software = backend === 'webgpu' && options.software;
    const budget = BUDGETS[software ? 'webgpu (software)' : backend]!;
    const kernelSets: KernelSet[] = WITH_SEEDBED_KERNELS.has(backend) ? options.kernels : ['backend'];
    for (const kernels of kernelSets) {
      const label = software ? 'webgpu (software)' : backend;
      const env = childEnv(backend, kernels, software);
      if (typeof env === 'string') {
        reports.push({ backend: label, kernels, detail: null, absent: env });
        break;
      }
      // The backend's own kernels change only fine-tuning: embeddings and the head are measured once.
      const fineTuneOnly = kernels === 'backend' && kernelSets.length > 1;
      const plan: ChildPlan = { backend, kernels, software, measurements: plannedMeasurements(budget, options, fineTuneOnly) };
      process.stderr.write(`${label}, ${kernels} kernels: ${plan.measurements.length} measurements\n`);
      const done = await runPlan(plan, label, env);
      reports.push(done.report);
      rows.push(...done.rows);
      if (done.report.absent) break;
    }
  }
  console.log(`\nSeedbed training benchmark: ${os.cpus().length} CPU cores (${os.cpus()[0]?.model ?? 'unknown'}), Node ${process.version}; ${((performance.now() - started) / 1000).toFixed(0)} s in all`);
  for (const r of reports) {
    if (r.absent) console.log(`  ${r.backend}: not measured: ${r.absent}`);
    else console.log(`  ${r.backend} (${r.kernels} kernels): ${r.detail}`);
  }
  for (const backend of options.full ? [] : new Set(reports.filter((r) => !r.absent).map((r) => r.backend))) {
    const budget = BUDGETS[backend]!;
    const leftOut = [budget.head ? '' : 'head training', budget.allLayers ? '' : 'all-layers fine-tuning'].filter(Boolean);
    if (leftOut.length) console.log(`  ${backend}: ${leftOut.join(' and ')} left out (minutes each here); --full measures them`);
  }
  console.log('');
  if (rows.length) console.log(table(rows));
  console.log(
    [
      '',
      'ms/step: one fine-tuning step (forward, backward, Adam) until its loss is read; JS ms: until its kernels are enqueued (on the CPU backends they run inside).',
      'GPU ms: shader time of one more step (webgpu; n/a without timestamp queries); kernels: kernel calls in one profiled step.',
      'tensors, memory: before the steps → after group 1 → after group 2 of steps (flat: the same after both groups).',
      '',
    ].join('\n'),
  );
  const summary = targets(rows);
  for (const line of summary) console.log(line);
  if (options.json) {
    fs.mkdirSync(nodePath.dirname(nodePath.resolve(options.json)), { recursive: true });
    const host = { cpus: os.cpus().length, cpuModel: os.cpus()[0]?.model ?? null, node: process.version, platform: `${process.platform}-${process.arch}` };
    fs.writeFileSync(options.json, JSON.stringify({ date: new Date().toISOString(), host, backends: reports, rows, targets: summary }, null, 2));
    console.log(`\nwrote ${options.json}`);
  }
}

const childAt = process.argv.indexOf('--child');
if (childAt >= 0) {
  // A parent that is gone (stopped, killed) takes its child along.
  process.on('disconnect', () => process.exit(1));
  await runChild(JSON.parse(process.argv[childAt + 1]!) as ChildPlan);
  process.removeAllListeners('disconnect');
  process.disconnect?.();
  // Dawn's threads may keep the process alive after the last measurement.
  process.exit(0);
} else {
  await main().catch((err: unknown) => {
    console.error(err instanceof Error ? err.message : err);
    process.exitCode = 1;
  });
}
