/**
 * The run report (issue #6 §3): one self-contained HTML page (inline CSS, inline SVG charts rendered by vega-lite,
 * no scripts, no external assets) plus the JSON it was drawn from. Pure: no I/O; the caller gathers the data
 * ({@link reportDataFrom}) and writes the result (report/write-report.ts).
 */
import { createHash } from 'node:crypto';
import * as vega from 'vega';
import * as vl from 'vega-lite';
import type { TopLevelSpec } from 'vega-lite';
import type { SeerConfig } from '../config/schema';
import type {
  ClassificationProtocol,
  ClassificationRun,
  DetectionRun,
  EvaluationResult,
  Initialisation,
  ReportInput,
  SeedStat,
} from '../contracts/evaluate';
import { evaluateKeys } from '../contracts/evaluate';
import { seedStat } from '../ml/stats';
import type { IngestResult } from '../contracts/ingest';
import { STAGES, type StageName, type StageProgress, type StageStatus } from '../contracts/pipeline';
import type { PreprocessResult } from '../contracts/preprocess';
import type { PretrainResult } from '../contracts/pretrain';

/**
 * What the pipeline returned. Every stage result is optional so that a partial run still gets a report (its
 * missing sections say "not run"); a full `PipelineResult` (with or without `evaluate`) is assignable to it.
 */
export interface ReportPipeline {
  runName: string;
  stages: Partial<Record<StageName, StageProgress>>;
  ingest?: IngestResult;
  preprocess?: PreprocessResult;
  pretrain?: PretrainResult;
  evaluate?: EvaluationResult;
}

/** Wall-clock time of one stage, in epoch milliseconds. */
export interface StageTiming {
  stage: StageName;
  status: StageStatus;
  startedAt?: number;
  finishedAt?: number;
  workflowId?: string;
}

/** How much of a stage's work was reused from an earlier attempt or run (idempotent caches). */
export interface CacheHit {
  stage: StageName;
  /** what was counted: partitions, shards, runs */
  unit: string;
  reused: number;
  total: number;
}

/** One point of the training curves (a segment end, or finer when available). */
export interface TrainingPoint {
  step: number;
  loss: number;
  lr: number;
  /** measured throughput over the segment that ended at `step` */
  imagesPerSec?: number;
  computeSeconds?: number;
}

/** Everything the report is built from. */
export interface ReportData {
  pipeline: ReportPipeline;
  timings: StageTiming[];
  cacheHits: CacheHit[];
  /** resolved run config; absent when it could not be recovered */
  config?: SeerConfig;
  /** SHA-256 (hex) of the canonical config JSON, see {@link hashConfig} */
  configHash: string;
  backend: string;
  bucket: string;
  /** finer-grained curves than `pipeline.pretrain.history` (e.g. per-segment throughput), when known */
  training?: TrainingPoint[];
  /** the pipeline workflow itself */
  run?: { workflowId: string; status?: string; startedAt?: number; closedAt?: number };
  /** lineage written by the pipeline, when it wrote one (otherwise derived from the stage results) */
  lineage?: ReportInput;
  /** ISO time the report was built at (passed in: the builder is pure) */
  generatedAt: string;
}

/** JSON with object keys sorted at every level, so equal configs hash equally whatever their key order. */
export function canonicalJson(value: unknown): string {
  return JSON.stringify(value, (_k, v: unknown) =>
    v && typeof v === 'object' && !Array.isArray(v)
      ? Object.fromEntries(
          Object.entries(v as Record<string, unknown>).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)),
        )
      : v,
  );
}

/** SHA-256 (hex) of a config's canonical JSON. */
export function hashConfig(config: unknown): string {
  return createHash('sha256').update(canonicalJson(config)).digest('hex');
}

/** Stage timings from the pipeline's own stage progress (in {@link STAGES} order). */
export function timingsFrom(stages: Partial<Record<StageName, StageProgress>>): StageTiming[] {
  return STAGES.map((stage) => {
    const s = stages[stage];
    return {
      stage,
      status: s?.status ?? 'pending',
      ...(s?.startedAt !== undefined ? { startedAt: s.startedAt } : {}),
      ...(s?.finishedAt !== undefined ? { finishedAt: s.finishedAt } : {}),
      ...(s?.workflowId ? { workflowId: s.workflowId } : {}),
    };
  });
}

/** Cache hits from the stage results: reused ingest partitions, canonical shards, an already-trained checkpoint. */
export function cacheHitsFrom(p: ReportPipeline): CacheHit[] {
  const out: CacheHit[] = [];
  if (p.ingest)
    out.push({ stage: 'ingest', unit: 'partitions', reused: p.ingest.cachedPartitions, total: p.ingest.partitions });
  if (p.preprocess)
    out.push({ stage: 'preprocess', unit: 'shards', reused: p.preprocess.cachedShards, total: p.preprocess.shards });
  if (p.pretrain) out.push({ stage: 'pretrain', unit: 'runs', reused: p.pretrain.cached ? 1 : 0, total: 1 });
  return out;
}

/** Fills a {@link ReportData} from a pipeline result and what else the caller knows. */
export function reportDataFrom(
  pipeline: ReportPipeline,
  extra: Partial<Omit<ReportData, 'pipeline'>> & { config?: SeerConfig } = {},
): ReportData {
  const { config, ...rest } = extra;
  return {
    pipeline,
    timings: extra.timings ?? timingsFrom(pipeline.stages),
    cacheHits: extra.cacheHits ?? cacheHitsFrom(pipeline),
    configHash: extra.configHash ?? extra.lineage?.configHash ?? (config ? hashConfig(config) : 'unknown'),
    backend:
      extra.backend ??
      extra.lineage?.backend ??
      pipeline.pretrain?.backend ??
      pipeline.pretrain?.checkpoint.backend ??
      'unknown',
    bucket: extra.bucket ?? extra.lineage?.bucket ?? config?.ingest.bucket ?? 'unknown',
    generatedAt: extra.generatedAt ?? new Date().toISOString(),
    ...(config ? { config } : {}),
    ...(rest.training ? { training: rest.training } : {}),
    ...(rest.run ? { run: rest.run } : {}),
    ...(rest.lineage ? { lineage: rest.lineage } : {}),
  };
}

// ---------------------------------------------------------------------------------------------------------------
// Statistics

/** What a table cell says for an initialisation that has no runs (there is no mean of no runs). */
const NO_RUNS = 'no runs';

/** Mean ± std over seeds, or undefined for no runs (shown as {@link NO_RUNS}, never as NaN). */
function statOf(values: readonly number[]): SeedStat | undefined {
  return values.length ? seedStat(values) : undefined;
}

const PROTOCOLS: ClassificationProtocol[] = ['linear', 'finetune', 'lowshot-1', 'lowshot-10'];
const INITS: Initialisation[] = ['pretrained', 'scratch'];
const PROTOCOL_LABEL: Record<ClassificationProtocol, string> = {
  linear: 'linear (frozen trunk)',
  finetune: 'fine-tune (all labels)',
  'lowshot-1': 'low-shot 1% labels',
  'lowshot-10': 'low-shot 10% labels',
};
const INIT_COLOR: Record<Initialisation, string> = { pretrained: '#4c78a8', scratch: '#f58518' };

/** top-1 over seeds for one protocol and initialisation: the evaluation's own summary when it has one. */
function classificationStat(
  ev: EvaluationResult,
  protocol: ClassificationProtocol,
  init: Initialisation,
): SeedStat | undefined {
  const s = ev.summary[protocol]?.[init];
  if (s) return s;
  return statOf(ev.classification.filter((r) => r.protocol === protocol && r.init === init).map((r) => r.top1));
}

interface ClassificationRow {
  protocol: ClassificationProtocol;
  labelFraction: number;
  epochs: number;
  pretrained?: SeedStat;
  scratch?: SeedStat;
  /** pretrained mean - scratch mean, in top-1 points */
  delta?: number;
}

function classificationRows(ev: EvaluationResult): ClassificationRow[] {
  const rows: ClassificationRow[] = [];
  const known = new Set<string>([...PROTOCOLS, ...ev.classification.map((r) => r.protocol)]);
  for (const protocol of known as Set<ClassificationProtocol>) {
    const runs = ev.classification.filter((r) => r.protocol === protocol);
    const pretrained = classificationStat(ev, protocol, 'pretrained');
    const scratch = classificationStat(ev, protocol, 'scratch');
    if (!pretrained && !scratch) continue;
    rows.push({
      protocol,
      labelFraction: runs[0]?.labelFraction ?? (protocol === 'lowshot-1' ? 0.01 : protocol === 'lowshot-10' ? 0.1 : 1),
      epochs: runs[0]?.epochs ?? 0,
      ...(pretrained ? { pretrained } : {}),
      ...(scratch ? { scratch } : {}),
      ...(pretrained && scratch ? { delta: pretrained.mean - scratch.mean } : {}),
    });
  }
  return rows;
}

/** One point of the accuracy-vs-label-fraction chart: a protocol's mean ± std for one initialisation. */
interface LabelFractionPoint {
  protocol: ClassificationProtocol;
  init: Initialisation;
  labelPercent: number;
  mean: number;
  std: number;
  seeds: number;
}

function labelFractionPoints(rows: ClassificationRow[]): LabelFractionPoint[] {
  // Linear evaluation trains a head on frozen features: a different protocol, so it is not on this axis.
  const out: LabelFractionPoint[] = [];
  for (const r of rows.filter((x) => x.protocol !== 'linear')) {
    for (const init of INITS) {
      const s = r[init];
      if (s)
        out.push({
          protocol: r.protocol,
          init,
          labelPercent: round(r.labelFraction * 100, 6),
          mean: s.mean,
          std: s.std,
          seeds: s.values.length,
        });
    }
  }
  return out.sort((a, b) => a.labelPercent - b.labelPercent);
}

const DETECTION_METRICS = ['AP', 'AP50', 'AP75', 'APs', 'APm', 'APl'] as const;
type DetectionMetric = (typeof DETECTION_METRICS)[number];

interface DetectionRow {
  init: Initialisation;
  seeds: number;
  epochs: number;
  /** pycocotools values (0..1); -1 entries (nothing to average) are left out */
  metrics: Partial<Record<DetectionMetric, SeedStat>>;
}

function detectionRows(ev: EvaluationResult): DetectionRow[] {
  const rows: DetectionRow[] = [];
  for (const init of INITS) {
    const runs: DetectionRun[] = ev.detection.filter((r) => r.init === init);
    const summary = ev.detectionSummary?.[init];
    if (!runs.length && !summary) continue;
    const metrics: DetectionRow['metrics'] = {};
    DETECTION_METRICS.forEach((m, i) => {
      const fromSummary = m === 'AP' || m === 'AP50' || m === 'AP75' ? summary?.[m] : undefined;
      const values = runs.map((r) => r.stats[i]).filter((v): v is number => v !== undefined && v >= 0);
      const stat = fromSummary ?? statOf(values);
      if (stat) metrics[m] = stat;
    });
    rows.push({ init, seeds: runs.length || (summary?.AP.values.length ?? 0), epochs: runs[0]?.epochs ?? 0, metrics });
  }
  return rows;
}

// ---------------------------------------------------------------------------------------------------------------
// Formatting

function round(x: number, digits: number): number {
  const f = 10 ** digits;
  return Math.round(x * f) / f;
}

/** Escapes text for HTML element content and attribute values. */
export function esc(s: unknown): string {
  return String(s)
    .replace(/&/g, '&amp;')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;')
    .replace(/"/g, '&quot;')
    .replace(/'/g, '&#39;');
}

/** 1234567 -> "1,234,567" (locale-independent). */
export function fmtInt(n: number): string {
  if (!Number.isFinite(n)) return String(n);
  const neg = n < 0;
  const s = String(Math.round(Math.abs(n))).replace(/\B(?=(\d{3})+(?!\d))/g, ',');
  return neg ? `-${s}` : s;
}

export function fmtBytes(n: number): string {
  if (n >= 1e12) return `${(n / 1e12).toFixed(2)} TB`;
  if (n >= 1e9) return `${(n / 1e9).toFixed(2)} GB`;
  if (n >= 1e6) return `${(n / 1e6).toFixed(1)} MB`;
  if (n >= 1e3) return `${(n / 1e3).toFixed(1)} kB`;
  return `${n} B`;
}

export function fmtSeconds(s: number): string {
  if (!Number.isFinite(s)) return '—';
  if (s < 60) return `${s.toFixed(1)} s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m} min ${String(Math.round(s - m * 60)).padStart(2, '0')} s`;
  return `${Math.floor(m / 60)} h ${String(m % 60).padStart(2, '0')} min`;
}

/** "71.23 ± 0.45" (top-1 in percent, two decimals). */
export function fmtStat(s: SeedStat | undefined, scale = 1, digits = 2): string {
  if (!s) return '—';
  return `${(s.mean * scale).toFixed(digits)} ± ${(s.std * scale).toFixed(digits)}`;
}

function fmtTime(ms: number | undefined): string {
  return ms === undefined
    ? '—'
    : new Date(ms)
        .toISOString()
        .replace('T', ' ')
        .replace(/\.\d+Z$/, 'Z');
}

function durationSeconds(t: { startedAt?: number; finishedAt?: number }): number | undefined {
  return t.startedAt !== undefined && t.finishedAt !== undefined ? (t.finishedAt - t.startedAt) / 1000 : undefined;
}

// ---------------------------------------------------------------------------------------------------------------
// Charts

const CHART_CONFIG = {
  font: 'DejaVu Sans, Helvetica, Arial, sans-serif',
  background: 'white',
  view: { stroke: '#d0d7de' },
  axis: { labelColor: '#444', titleColor: '#222', gridColor: '#e8e8e8', labelFontSize: 11, titleFontSize: 12 },
  legend: { labelFontSize: 11, titleFontSize: 12, orient: 'bottom' },
  title: { fontSize: 13, anchor: 'start', color: '#222' },
} as const;

/**
 * Renders a vega-lite spec to an SVG string with vega's headless SVG renderer. Namespace attributes are dropped:
 * inline SVG in HTML does not need them, and the page then holds no URL at all.
 */
export async function renderChart(spec: TopLevelSpec): Promise<string> {
  const compiled = vl.compile({ ...spec, config: { ...CHART_CONFIG, ...(spec.config ?? {}) } } as TopLevelSpec, {
    logger: vega.logger(vega.Warn),
  }).spec;
  const view = new vega.View(vega.parse(compiled), { renderer: 'none', logLevel: vega.None });
  try {
    const svg = await view.toSVG();
    return svg.replace(/\s+xmlns(:\w+)?="[^"]*"/g, '');
  } finally {
    view.finalize();
  }
}

async function figure(id: string, caption: string, spec: TopLevelSpec): Promise<string> {
  const svg = await renderChart(spec);
  return `<figure class="chart" id="chart-${esc(id)}" data-chart="${esc(id)}">${svg}<figcaption>${esc(caption)}</figcaption></figure>`;
}

function stageChart(timings: StageTiming[], runStart: number): TopLevelSpec | undefined {
  const rows = timings
    .filter((t) => t.startedAt !== undefined)
    .map((t) => {
      const end = t.finishedAt ?? t.startedAt ?? runStart;
      const seconds = (end - (t.startedAt ?? end)) / 1000;
      return {
        stage: t.stage,
        status: t.status,
        start: ((t.startedAt ?? runStart) - runStart) / 1000,
        end: (end - runStart) / 1000,
        label: fmtSeconds(seconds),
      };
    });
  if (!rows.length) return undefined;
  const y = { field: 'stage', type: 'nominal', sort: STAGES, title: null } as const;
  return {
    width: 880,
    height: { step: 34 },
    data: { values: rows },
    layer: [
      {
        mark: { type: 'bar', cornerRadius: 2, minBandSize: 3 } as never,
        encoding: {
          y,
          x: {
            field: 'start',
            type: 'quantitative',
            title: 'seconds since the pipeline workflow started',
            axis: { tickCount: 8 },
          },
          x2: { field: 'end' },
          color: {
            field: 'status',
            type: 'nominal',
            title: 'status',
            scale: {
              domain: ['done', 'running', 'failed', 'pending'],
              range: ['#54a24b', '#4c78a8', '#e45756', '#bab0ac'],
            },
          },
        },
      },
      {
        mark: { type: 'text', align: 'left', dx: 4, fontSize: 11 },
        encoding: { y, x: { field: 'end', type: 'quantitative' }, text: { field: 'label' } },
      },
    ],
  } as TopLevelSpec;
}

function cacheChart(hits: CacheHit[]): TopLevelSpec | undefined {
  const rows = hits
    .filter((h) => h.total > 0)
    .flatMap((h) => [
      { stage: h.stage, kind: 'reused', count: h.reused, unit: h.unit },
      { stage: h.stage, kind: 'computed', count: Math.max(0, h.total - h.reused), unit: h.unit },
    ]);
  if (!rows.length) return undefined;
  return {
    width: 880,
    height: { step: 30 },
    data: { values: rows },
    mark: 'bar',
    encoding: {
      y: { field: 'stage', type: 'nominal', sort: STAGES, title: null },
      x: {
        field: 'count',
        type: 'quantitative',
        stack: 'normalize',
        title: 'share of work units',
        axis: { format: '.0%' },
      },
      color: {
        field: 'kind',
        type: 'nominal',
        title: 'work unit',
        scale: { domain: ['reused', 'computed'], range: ['#72b7b2', '#9d755d'] },
      },
      order: { field: 'kind', sort: 'descending' },
    },
  } as TopLevelSpec;
}

function quarantineChart(byReason: Record<string, number>): TopLevelSpec | undefined {
  const rows = Object.entries(byReason)
    .filter(([, n]) => n > 0)
    .sort((a, b) => b[1] - a[1])
    .map(([reason, count]) => ({ reason, count }));
  if (!rows.length) return undefined;
  const order = rows.map((r) => r.reason); // one explicit order for both layers (vega-lite cannot union '-x' sorts)
  return {
    width: 360,
    height: { step: 22 },
    data: { values: rows },
    layer: [
      {
        mark: { type: 'bar', color: '#e45756' },
        encoding: {
          y: { field: 'reason', type: 'nominal', sort: order, title: null },
          x: {
            field: 'count',
            type: 'quantitative',
            title: 'objects quarantined',
            axis: { tickMinStep: 1, format: ',d' },
          },
        },
      },
      {
        mark: { type: 'text', align: 'left', dx: 3, fontSize: 11 },
        encoding: {
          y: { field: 'reason', type: 'nominal', sort: order },
          x: { field: 'count', type: 'quantitative' },
          text: { field: 'count', type: 'quantitative', format: ',' },
        },
      },
    ],
  } as TopLevelSpec;
}

const OUTCOMES = ['accepted', 'quarantined', 'unchanged'];

function ingestBreakdownChart(r: IngestResult): TopLevelSpec {
  const rows = [
    { outcome: 'accepted', count: r.accepted },
    { outcome: 'quarantined', count: r.quarantined },
    { outcome: 'unchanged', count: r.unchanged },
  ];
  return {
    width: 360,
    height: { step: 22 },
    data: { values: rows },
    layer: [
      {
        mark: 'bar',
        encoding: {
          y: { field: 'outcome', type: 'nominal', sort: OUTCOMES, title: null },
          x: {
            field: 'count',
            type: 'quantitative',
            title: `objects (of ${fmtInt(r.listed)} listed)`,
            axis: { tickMinStep: 1, format: ',d' },
          },
          color: {
            field: 'outcome',
            type: 'nominal',
            legend: null,
            scale: { domain: ['accepted', 'quarantined', 'unchanged'], range: ['#54a24b', '#e45756', '#bab0ac'] },
          },
        },
      },
      {
        mark: { type: 'text', align: 'left', dx: 3, fontSize: 11 },
        encoding: {
          y: { field: 'outcome', type: 'nominal', sort: OUTCOMES },
          x: { field: 'count', type: 'quantitative' },
          text: { field: 'count', type: 'quantitative', format: ',' },
        },
      },
    ],
  } as TopLevelSpec;
}

function lineChart(
  points: { step: number; value: number }[],
  title: string,
  color: string,
  format?: string,
  scaleType?: 'log',
): TopLevelSpec {
  return {
    width: 400,
    height: 200,
    data: { values: points },
    mark: { type: 'line', point: { filled: true, size: 30 }, color, strokeWidth: 2 },
    encoding: {
      x: { field: 'step', type: 'quantitative', title: 'step' },
      y: {
        field: 'value',
        type: 'quantitative',
        title,
        scale: { zero: false, ...(scaleType ? { type: scaleType } : {}) },
        ...(format ? { axis: { format } } : {}),
      },
    },
  } as TopLevelSpec;
}

function accuracyChart(points: LabelFractionPoint[], runs: ClassificationRun[]): TopLevelSpec {
  // Pretrained and scratch share x values; nudge them apart (in log space) so the error bars do not overlap.
  const nudge: Record<Initialisation, number> = { pretrained: 0.95, scratch: 1.05 };
  // `desc` becomes each mark's aria-label: the true numbers, not the nudged x.
  const means = points.map((p) => ({
    ...p,
    x: p.labelPercent * nudge[p.init],
    lo: p.mean - p.std,
    hi: p.mean + p.std,
    desc: `${p.init}, ${p.labelPercent}% labels (${p.protocol}): top-1 ${p.mean.toFixed(2)} ± ${p.std.toFixed(2)} over ${p.seeds} seed(s)`,
  }));
  const seeds = runs
    .filter((r) => r.protocol !== 'linear')
    .map((r) => {
      const pct = round(r.labelFraction * 100, 6);
      return {
        init: r.init,
        seed: r.seed,
        x: pct * nudge[r.init],
        top1: r.top1,
        desc: `${r.init}, ${pct}% labels (${r.protocol}), seed ${r.seed}: top-1 ${r.top1.toFixed(2)}`,
      };
    });
  const description = { field: 'desc' };
  const percents = [...new Set(points.map((p) => p.labelPercent))];
  const color = {
    field: 'init',
    type: 'nominal' as const,
    title: 'initialisation',
    scale: { domain: [...INITS], range: INITS.map((i) => INIT_COLOR[i]) },
  };
  const x = {
    field: 'x',
    type: 'quantitative' as const,
    title: 'labelled training images (%)',
    scale: { type: 'log' as const, domain: [Math.min(...percents) * 0.7, Math.max(...percents) * 1.4] },
    axis: { values: percents, format: '~g' },
  };
  return {
    width: 560,
    height: 300,
    // Means first: the legend takes its symbols from the first layer (the single-seed circles are faded).
    layer: [
      {
        data: { values: means },
        mark: { type: 'line', point: { filled: true, size: 45 }, strokeWidth: 2 },
        encoding: {
          x,
          y: { field: 'mean', type: 'quantitative', title: 'test top-1 (%)', scale: { zero: false } },
          color,
          description,
        },
      },
      {
        data: { values: means },
        mark: { type: 'errorbar', ticks: { size: 8 }, thickness: 2 } as never,
        encoding: {
          x,
          y: { field: 'lo', type: 'quantitative', title: 'test top-1 (%)' },
          y2: { field: 'hi' },
          color,
          description,
        },
      },
      {
        data: { values: seeds },
        mark: { type: 'point', opacity: 0.45, size: 28 },
        encoding: { x, y: { field: 'top1', type: 'quantitative', title: 'test top-1 (%)' }, color, description },
      },
    ],
  } as TopLevelSpec;
}

/** One point of the per-epoch accuracy curves: a single seed's test top-1, or the mean over seeds. */
interface CurvePoint {
  kind: 'seed' | 'mean';
  panel: string;
  init: Initialisation;
  /** which line the point belongs to (one per seed, one for the mean) */
  line: string;
  epoch: number;
  top1: number;
  desc: string;
}

function curvePoints(runs: ClassificationRun[]): CurvePoint[] {
  const out: CurvePoint[] = [];
  for (const protocol of PROTOCOLS) {
    for (const init of INITS) {
      const group = runs.filter((r) => r.protocol === protocol && r.init === init && r.curve.length > 0);
      const panel = PROTOCOL_LABEL[protocol];
      for (const r of group) {
        r.curve.forEach((top1, i) =>
          out.push({
            kind: 'seed',
            panel,
            init,
            line: `${init}/${r.seed}`,
            epoch: i + 1,
            top1,
            desc: `${protocol}, ${init}, seed ${r.seed}, epoch ${i + 1}: top-1 ${top1.toFixed(2)}`,
          }),
        );
      }
      // The mean at an epoch is over the seeds that reached it (all of them in a finished evaluation).
      const epochs = Math.max(0, ...group.map((r) => r.curve.length));
      for (let e = 0; e < epochs; e++) {
        const values = group.map((r) => r.curve[e]).filter((v): v is number => v !== undefined);
        const s = seedStat(values);
        out.push({
          kind: 'mean',
          panel,
          init,
          line: `${init}/mean`,
          epoch: e + 1,
          top1: s.mean,
          desc: `${protocol}, ${init}, epoch ${e + 1}: top-1 ${fmtStat(s)} over ${values.length} seed(s)`,
        });
      }
    }
  }
  return out;
}

/** Test top-1 after every epoch, one panel per protocol: each seed faint, the mean over seeds bold. */
function curveChart(points: CurvePoint[]): TopLevelSpec {
  const panels = PROTOCOLS.map((p) => PROTOCOL_LABEL[p]).filter((label) => points.some((pt) => pt.panel === label));
  const color = {
    field: 'init',
    type: 'nominal' as const,
    title: 'initialisation',
    scale: { domain: [...INITS], range: INITS.map((i) => INIT_COLOR[i]) },
  };
  const x = { field: 'epoch', type: 'quantitative' as const, title: 'epoch', axis: { tickMinStep: 1, format: 'd' } };
  const y = { field: 'top1', type: 'quantitative' as const, title: 'test top-1 (%)', scale: { zero: false } };
  return {
    data: { values: points },
    facet: { field: 'panel', type: 'nominal', title: null, sort: panels, header: { labelFontSize: 12 } },
    columns: 2,
    spec: {
      width: 230,
      height: 130,
      layer: [
        // Means first: the legend takes its symbols from the first layer.
        {
          transform: [{ filter: "datum.kind === 'mean'" }],
          mark: { type: 'line', point: { filled: true, size: 30 }, strokeWidth: 2.5 },
          encoding: { x, y, color, detail: { field: 'line' }, description: { field: 'desc' } },
        },
        {
          transform: [{ filter: "datum.kind === 'seed'" }],
          mark: { type: 'line', strokeWidth: 1, opacity: 0.35 },
          encoding: { x, y, color, detail: { field: 'line' } },
        },
      ],
    },
  } as TopLevelSpec;
}

// ---------------------------------------------------------------------------------------------------------------
// HTML

const CSS = `
:root { color-scheme: light; }
* { box-sizing: border-box; }
body { margin: 0; background: #f6f8fa; color: #1f2328; font: 14px/1.5 "DejaVu Sans", Helvetica, Arial, sans-serif; }
main { max-width: 1120px; margin: 0 auto; padding: 24px 28px 48px; background: #fff; min-height: 100vh; }
h1 { font-size: 24px; margin: 0 0 4px; }
h2 { font-size: 19px; margin: 32px 0 10px; padding-bottom: 4px; border-bottom: 1px solid #d0d7de; }
h3 { font-size: 15px; margin: 18px 0 8px; }
.sub { color: #57606a; margin: 0 0 16px; }
.cards { display: grid; grid-template-columns: repeat(auto-fill, minmax(200px, 1fr)); gap: 10px; margin: 12px 0; }
.card { border: 1px solid #d0d7de; border-radius: 6px; padding: 8px 12px; }
.card .k { color: #57606a; font-size: 12px; }
.card .v { font-size: 18px; font-weight: 600; overflow-wrap: anywhere; }
table { border-collapse: collapse; margin: 8px 0 12px; font-size: 13px; }
th, td { border: 1px solid #d0d7de; padding: 4px 10px; text-align: left; vertical-align: top; }
th { background: #f6f8fa; font-weight: 600; }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
code, .key { font-family: "DejaVu Sans Mono", Menlo, Consolas, monospace; font-size: 12px; overflow-wrap: anywhere; }
.charts { display: flex; flex-wrap: wrap; gap: 12px 24px; align-items: flex-start; }
figure.chart { margin: 6px 0; }
figure.chart svg { display: block; max-width: 100%; height: auto; }
figcaption { color: #57606a; font-size: 12px; margin-top: 2px; max-width: 560px; }
.not-run { display: inline-block; color: #57606a; background: #f6f8fa; border: 1px dashed #afb8c1; border-radius: 6px; padding: 6px 12px; margin: 4px 0; }
.ok { color: #1a7f37; font-weight: 600; }
.bad { color: #cf222e; font-weight: 600; }
.note { color: #57606a; font-size: 12px; }
ol.lineage { list-style: none; padding: 0; margin: 8px 0; }
ol.lineage li { border: 1px solid #d0d7de; border-left: 4px solid #4c78a8; border-radius: 4px; padding: 4px 12px; max-width: 900px; }
ol.lineage li.arrow { border: 0; padding: 0 0 0 24px; color: #8c959f; font-size: 16px; line-height: 1.3; }
ol.lineage .what { font-weight: 600; display: inline-block; min-width: 150px; }
details pre { background: #f6f8fa; border: 1px solid #d0d7de; padding: 10px; overflow: auto; font-size: 12px; }
@media print { body { background: #fff; } main { padding: 0; } }
`;

function notRun(what: string, why?: string): string {
  return `<p class="not-run">${esc(what)}: not run${why ? ` (${esc(why)})` : ''}</p>`;
}

function table(head: string[], rows: string[][], numeric: boolean[] = []): string {
  const th = head.map((h, i) => `<th${numeric[i] ? ' class="num"' : ''}>${h}</th>`).join('');
  const body = rows
    .map((r) => `<tr>${r.map((c, i) => `<td${numeric[i] ? ' class="num"' : ''}>${c}</td>`).join('')}</tr>`)
    .join('\n');
  return `<table><thead><tr>${th}</tr></thead><tbody>\n${body}\n</tbody></table>`;
}

function card(k: string, v: string): string {
  return `<div class="card"><div class="k">${esc(k)}</div><div class="v">${v}</div></div>`;
}

function trainingPoints(d: ReportData): TrainingPoint[] {
  const pts = d.training?.length ? d.training : (d.pipeline.pretrain?.history ?? []);
  return [...pts].filter((p) => Number.isFinite(p.step)).sort((a, b) => a.step - b.step);
}

/** Average throughput over the whole run: steps × batch ÷ compute seconds (undefined when unknown). */
function averageImagesPerSec(d: ReportData): number | undefined {
  const p = d.pipeline.pretrain;
  const batch = d.config?.train.batchSize;
  if (!p || !batch || p.cached || !(p.computeSeconds > 0)) return undefined;
  return (p.steps * batch) / p.computeSeconds;
}

interface Derived {
  runStart: number | undefined;
  runEnd: number | undefined;
  classification: ClassificationRow[];
  labelPoints: LabelFractionPoint[];
  detection: DetectionRow[];
  training: TrainingPoint[];
  avgImagesPerSec: number | undefined;
  lineage: LineageStep[];
}

interface LineageStep {
  what: string;
  key: string | undefined;
  detail: string;
}

function lineageSteps(d: ReportData): LineageStep[] {
  const p = d.pipeline;
  const prefixes = d.config?.ingest.prefixes;
  const ev = p.evaluate;
  return [
    {
      what: 'corpus',
      key: prefixes?.length ? prefixes.map((x) => `s3://${d.bucket}/${x}`).join(', ') : undefined,
      detail: p.ingest ? `${fmtInt(p.ingest.listed)} objects listed` : '',
    },
    {
      what: 'ingest manifest',
      key: d.lineage?.ingestSummaryKey ?? p.ingest?.summaryKey,
      detail: p.ingest
        ? `${fmtInt(p.ingest.accepted)} accepted in ${fmtInt(p.ingest.manifestShards)} manifest shard(s)`
        : '',
    },
    {
      what: 'canonical shards',
      key: d.lineage?.datasetKey ?? p.preprocess?.datasetKey,
      detail: p.preprocess
        ? `${fmtInt(p.preprocess.images)} images in ${fmtInt(p.preprocess.parts)} tar part(s) from ${fmtInt(p.preprocess.shards)} shard(s)`
        : '',
    },
    {
      what: 'checkpoint',
      key: d.lineage?.checkpointKey ?? p.pretrain?.checkpoint.key,
      detail: p.pretrain
        ? `step ${fmtInt(p.pretrain.checkpoint.step)}, ${fmtBytes(p.pretrain.checkpoint.bytes)}, sha256 ${p.pretrain.checkpoint.sha256.slice(0, 16)}…, ${p.pretrain.checkpoint.backend}`
        : '',
    },
    {
      what: 'evaluation',
      key: d.lineage?.evaluationKey ?? ev?.resultKey,
      detail: ev ? `evaluated checkpoint ${ev.checkpointKey}` : '',
    },
    {
      what: 'report',
      key: `${evaluateKeys.report(p.runName)}index.html`,
      detail: 'this page (and report.json beside it)',
    },
  ];
}

function derive(d: ReportData): Derived {
  const starts = d.timings.map((t) => t.startedAt).filter((x): x is number => x !== undefined);
  const ends = d.timings.map((t) => t.finishedAt).filter((x): x is number => x !== undefined);
  const classification = d.pipeline.evaluate ? classificationRows(d.pipeline.evaluate) : [];
  return {
    runStart: d.run?.startedAt ?? (starts.length ? Math.min(...starts) : undefined),
    runEnd: d.run?.closedAt ?? (ends.length ? Math.max(...ends) : undefined),
    classification,
    labelPoints: labelFractionPoints(classification),
    detection: d.pipeline.evaluate ? detectionRows(d.pipeline.evaluate) : [],
    training: trainingPoints(d),
    avgImagesPerSec: averageImagesPerSec(d),
    lineage: lineageSteps(d),
  };
}

function summarySection(d: ReportData, x: Derived): string {
  const p = d.pipeline;
  const wall = x.runStart !== undefined && x.runEnd !== undefined ? fmtSeconds((x.runEnd - x.runStart) / 1000) : '—';
  const linear = x.classification.find((r) => r.protocol === 'linear');
  const cards = [
    card('status', esc(d.run?.status ?? (d.timings.some((t) => t.status === 'failed') ? 'failed' : 'completed'))),
    card('preset', esc(d.config?.preset ?? '—')),
    card('wall time', esc(wall)),
    card('backend', esc(d.backend)),
    card('images ingested', p.ingest ? fmtInt(p.ingest.accepted) : '—'),
    card('training images', p.preprocess ? fmtInt(p.preprocess.images) : '—'),
    card('pretraining steps', p.pretrain ? fmtInt(p.pretrain.steps) : '—'),
    card('final SwAV loss', p.pretrain ? esc(p.pretrain.finalLoss.toFixed(4)) : '—'),
    card('linear top-1, pretrained', esc(fmtStat(linear?.pretrained))),
    card('linear top-1, scratch', esc(fmtStat(linear?.scratch))),
  ];
  return `<section id="summary"><h2>Summary</h2>
<div class="cards">${cards.join('')}</div>
<p class="note">config sha256 <code>${esc(d.configHash)}</code>${d.run ? ` · workflow <code>${esc(d.run.workflowId)}</code>` : ''} · bucket <code>${esc(d.bucket)}</code></p>
</section>`;
}

async function stagesSection(d: ReportData, x: Derived): Promise<string> {
  const rows = d.timings.map((t) => {
    const secs = durationSeconds(t);
    const hit = d.cacheHits.find((h) => h.stage === t.stage);
    return [
      esc(t.stage),
      esc(t.status),
      esc(fmtTime(t.startedAt)),
      esc(fmtTime(t.finishedAt)),
      esc(secs === undefined ? '—' : fmtSeconds(secs)),
      hit ? `${fmtInt(hit.reused)} / ${fmtInt(hit.total)} ${esc(hit.unit)} reused` : '—',
      t.workflowId ? `<code>${esc(t.workflowId)}</code>` : '—',
    ];
  });
  const charts: string[] = [];
  const timing = x.runStart !== undefined ? stageChart(d.timings, x.runStart) : undefined;
  charts.push(
    timing
      ? await figure('stage-timings', 'Stage timings: each bar spans a stage from start to finish.', timing)
      : notRun('stage timings', 'no stage started'),
  );
  const cache = cacheChart(d.cacheHits);
  charts.push(
    cache
      ? await figure(
          'cache-hits',
          'Cache hits: work units reused from earlier attempts or runs (idempotent outputs) vs computed in this run.',
          cache,
        )
      : notRun('cache hits', 'no stage reported its work units'),
  );
  return `<section id="stages"><h2>Pipeline stages</h2>
<div class="charts">${charts.join('\n')}</div>
${table(['stage', 'status', 'started', 'finished', 'duration', 'cache', 'workflow'], rows, [false, false, false, false, true, false, false])}
</section>`;
}

async function ingestSection(d: ReportData): Promise<string> {
  const r = d.pipeline.ingest;
  if (!r) return `<section id="ingest"><h2>Ingest</h2>${notRun('ingest')}</section>`;
  const reasons = Object.entries(r.quarantineByReason).sort((a, b) => b[1] - a[1]);
  const counts = table(
    ['', 'objects'],
    [
      ['listed', fmtInt(r.listed)],
      ['accepted', fmtInt(r.accepted)],
      ['quarantined', fmtInt(r.quarantined)],
      ['unchanged (incremental)', fmtInt(r.unchanged)],
      ['accepted bytes', esc(fmtBytes(r.bytes))],
      ['partitions', `${fmtInt(r.partitions)} (${fmtInt(r.cachedPartitions)} reused)`],
      ['manifest shards', fmtInt(r.manifestShards)],
      ['coordinator runs', fmtInt(r.coordinatorRuns)],
    ],
    [false, true],
  );
  const reasonTable = reasons.length
    ? table(
        ['quarantine reason', 'objects'],
        reasons.map(([k, v]) => [`<code>${esc(k)}</code>`, fmtInt(v)]),
        [false, true],
      )
    : '<p class="note">no object was quarantined</p>';
  const qc = quarantineChart(r.quarantineByReason);
  const charts = [
    await figure(
      'ingest-outcome',
      'Every listed object is accepted, quarantined or unchanged since the previous ingest.',
      ingestBreakdownChart(r),
    ),
    qc ? await figure('quarantine-reasons', 'Quarantined objects by reason.', qc) : '',
  ];
  return `<section id="ingest"><h2>Ingest</h2>
<p>Reconciled: ${r.reconciled ? '<span class="ok">yes</span>' : '<span class="bad">NO</span>'} (listed = accepted + quarantined + unchanged). Summary: <code>${esc(r.summaryKey)}</code></p>
<div class="charts">${charts.join('\n')}</div>
<div class="charts">${counts}${reasonTable}</div>
</section>`;
}

function preprocessSection(d: ReportData): string {
  const r = d.pipeline.preprocess;
  if (!r) return `<section id="preprocess"><h2>Preprocess</h2>${notRun('preprocess')}</section>`;
  const short = d.config
    ? ` Canonical images: shorter side ${d.config.preprocess.shortSide} px, JPEG quality ${d.config.preprocess.jpegQuality}.`
    : '';
  return `<section id="preprocess"><h2>Preprocess</h2>
<p>Reconciled: ${r.reconciled ? '<span class="ok">yes</span>' : '<span class="bad">NO</span>'} (manifest entries = images + quarantined).${esc(short)} Dataset: <code>${esc(r.datasetKey)}</code></p>
${table(
  ['', 'value'],
  [
    ['manifest entries', fmtInt(r.entries)],
    ['images', fmtInt(r.images)],
    ['quarantined (failed to decode)', fmtInt(r.quarantined)],
    ['canonical bytes', esc(fmtBytes(r.bytes))],
    ['tar parts', fmtInt(r.parts)],
    ['manifest shards', `${fmtInt(r.shards)} (${fmtInt(r.cachedShards)} reused)`],
    ['coordinator runs', fmtInt(r.coordinatorRuns)],
  ],
  [false, true],
)}
</section>`;
}

async function pretrainSection(d: ReportData, x: Derived): Promise<string> {
  const r = d.pipeline.pretrain;
  if (!r) return `<section id="pretrain"><h2>Pretraining</h2>${notRun('pretraining')}</section>`;
  const pts = x.training;
  const charts: string[] = [];
  const loss = pts.filter((p) => Number.isFinite(p.loss)).map((p) => ({ step: p.step, value: p.loss }));
  const lr = pts.filter((p) => Number.isFinite(p.lr)).map((p) => ({ step: p.step, value: p.lr }));
  const tput = pts
    .filter((p) => p.imagesPerSec !== undefined && Number.isFinite(p.imagesPerSec))
    .map((p) => ({ step: p.step, value: p.imagesPerSec as number }));
  const why = r.cached
    ? 'already trained: the checkpoint was reused, nothing was trained in this run'
    : 'no training segment was recorded';
  charts.push(
    loss.length
      ? await figure('loss', 'SwAV loss at the end of each training segment.', lineChart(loss, 'SwAV loss', '#4c78a8'))
      : notRun('loss curve', why),
  );
  charts.push(
    lr.length
      ? await figure(
          'lr',
          'Learning rate (scheduled) at each segment end.',
          lineChart(lr, 'learning rate', '#8e44ad', '.3~g'),
        )
      : notRun('learning-rate curve', why),
  );
  if (tput.length)
    charts.push(
      await figure(
        'throughput',
        'Training throughput per segment (images per second of compute).',
        lineChart(tput, 'images / s', '#54a24b', ',.0f'),
      ),
    );
  else if (x.avgImagesPerSec !== undefined)
    charts.push(
      `<p class="not-run">throughput per segment not recorded; average ${esc(x.avgImagesPerSec.toFixed(1))} images/s (${fmtInt(r.steps)} steps × batch ${fmtInt(d.config?.train.batchSize ?? 0)} ÷ ${esc(r.computeSeconds.toFixed(1))} s of compute)</p>`,
    );
  else charts.push(notRun('throughput', why));
  const rows: string[][] = [
    ['steps', fmtInt(r.steps)],
    ['epochs', fmtInt(r.epochs)],
    ['final loss', esc(r.finalLoss.toFixed(4))],
    ['compute', esc(r.cached ? 'reused (already trained)' : fmtSeconds(r.computeSeconds))],
    ['average throughput', x.avgImagesPerSec !== undefined ? `${esc(x.avgImagesPerSec.toFixed(1))} images/s` : '—'],
    ['backend', esc(r.backend)],
    ['segments recorded', fmtInt(pts.length)],
  ];
  if (d.config) {
    const c = d.config;
    rows.push(
      ['batch size', fmtInt(c.train.batchSize)],
      ['base LR → final LR', esc(`${c.optim.baseLr} → ${c.optim.finalLr}`)],
      ['prototypes', fmtInt(c.swav.prototypes)],
    );
  }
  return `<section id="pretrain"><h2>Pretraining</h2>
<div class="charts">${charts.join('\n')}
${table(['', 'value'], rows, [false, true])}</div>
<p>Checkpoint: <code>${esc(r.checkpoint.key)}</code></p>
</section>`;
}

async function evaluationSection(d: ReportData, x: Derived): Promise<string> {
  const ev = d.pipeline.evaluate;
  if (!ev) {
    const status = d.timings.find((t) => t.stage === 'evaluate')?.status;
    const why =
      status === 'not-built'
        ? 'the evaluation stage is not built yet'
        : status === 'failed'
          ? 'the evaluation stage failed'
          : undefined;
    return `<section id="evaluation"><h2>Evaluation</h2>
<h3>Accuracy vs label fraction</h3>${notRun('accuracy vs label fraction', why)}
<h3>Accuracy per epoch</h3>${notRun('per-epoch accuracy curves', why)}
<h3>Linear and fine-tune top-1</h3>${notRun('classification protocols', why)}
<h3>Detection</h3>${notRun('detection', why)}
</section>`;
  }
  const seeds = [...new Set(ev.classification.map((r) => r.seed))];
  const acc = x.labelPoints.length
    ? await figure(
        'accuracy-vs-labels',
        `Test top-1 vs fraction of training labels: mean ± std over seeds (bars), single seeds (circles). Pretrained (SwAV) vs random init.`,
        accuracyChart(x.labelPoints, ev.classification),
      )
    : notRun('accuracy vs label fraction', 'no fine-tune or low-shot run');
  const curves = curvePoints(ev.classification);
  const curveFigure = curves.length
    ? await figure(
        'accuracy-curves',
        'Test top-1 after each training epoch, per protocol: mean over seeds (bold, with points) and each seed (faint). Pretrained (SwAV) vs random init.',
        curveChart(curves),
      )
    : notRun('per-epoch accuracy curves', 'no classification run recorded a curve');
  const classTable = x.classification.length
    ? table(
        [
          'protocol',
          'labels',
          'epochs',
          'pretrained top-1 (%)',
          'scratch top-1 (%)',
          'Δ (points)',
          'pretrained per seed',
          'scratch per seed',
        ],
        x.classification.map((r) => [
          esc(PROTOCOL_LABEL[r.protocol] ?? r.protocol),
          `${esc(round(r.labelFraction * 100, 4))}%`,
          fmtInt(r.epochs),
          esc(r.pretrained ? fmtStat(r.pretrained) : NO_RUNS),
          esc(r.scratch ? fmtStat(r.scratch) : NO_RUNS),
          r.delta === undefined ? '—' : esc(`${r.delta >= 0 ? '+' : ''}${r.delta.toFixed(2)}`),
          esc(r.pretrained?.values.map((v) => v.toFixed(2)).join(', ') ?? NO_RUNS),
          esc(r.scratch?.values.map((v) => v.toFixed(2)).join(', ') ?? NO_RUNS),
        ]),
        [false, true, true, true, true, true, false, false],
      )
    : notRun('classification protocols');
  const det = x.detection.length
    ? table(
        ['initialisation', 'seeds', 'epochs', ...DETECTION_METRICS.map((m) => esc(m))],
        x.detection.map((r) => [
          esc(r.init),
          fmtInt(r.seeds),
          fmtInt(r.epochs),
          ...DETECTION_METRICS.map((m) => esc(fmtStat(r.metrics[m], 100, 1))),
        ]),
        [false, true, true, true, true, true, true, true, true],
      ) + '<p class="note">COCO box AP in points (pycocotools value × 100), mean ± std over seeds.</p>'
    : notRun('detection');
  return `<section id="evaluation"><h2>Evaluation</h2>
<p class="note">${fmtInt(ev.classification.length)} classification run(s), ${fmtInt(ev.detection.length)} detection run(s), seeds ${esc(seeds.join(', ') || '—')}. Checkpoint <code>${esc(ev.checkpointKey)}</code>; results <code>${esc(ev.resultKey)}</code>.</p>
<h3>Accuracy vs label fraction</h3>
<div class="charts">${acc}</div>
<h3>Accuracy per epoch</h3>
<div class="charts">${curveFigure}</div>
<h3>Linear and fine-tune top-1</h3>
${classTable}
<h3>Detection</h3>
${det}
</section>`;
}

function lineageSection(d: ReportData, x: Derived): string {
  const ev = d.pipeline.evaluate;
  const ck = d.pipeline.pretrain?.checkpoint.key;
  const consistent =
    ev && ck
      ? ev.checkpointKey === ck
        ? '<span class="ok">evaluation used this run’s checkpoint</span>'
        : `<span class="bad">evaluation used a different checkpoint (${esc(ev.checkpointKey)})</span>`
      : '';
  const items = x.lineage.map(
    (s) =>
      `<li><span class="what">${esc(s.what)}</span> ${s.key ? `<span class="key">${esc(s.key)}</span>` : '<span class="note">not run</span>'}${s.detail ? `<br><span class="note">${esc(s.detail)}</span>` : ''}</li>`,
  );
  return `<section id="lineage"><h2>Lineage</h2>
<p>config sha256 <code>${esc(d.configHash)}</code> · backend <code>${esc(d.backend)}</code> · bucket <code>${esc(d.bucket)}</code>${consistent ? ` · ${consistent}` : ''}</p>
<ol class="lineage">${items.join('\n<li class="arrow" aria-hidden="true">↓</li>\n')}</ol>
</section>`;
}

function configSection(d: ReportData): string {
  const body = d.config
    ? `<pre>${esc(JSON.stringify(d.config, null, 2))}</pre>`
    : '<p class="note">config not available</p>';
  return `<section id="config"><h2>Config</h2><details><summary>resolved config (sha256 <code>${esc(d.configHash.slice(0, 16))}…</code>)</summary>${body}</details></section>`;
}

function reportJson(d: ReportData, x: Derived): unknown {
  const p = d.pipeline;
  return {
    schema: 'seerflow.report/v1',
    runName: p.runName,
    generatedAt: d.generatedAt,
    configHash: d.configHash,
    backend: d.backend,
    bucket: d.bucket,
    run: d.run ?? null,
    stages: d.timings.map((t) => ({ ...t, seconds: durationSeconds(t) ?? null })),
    cacheHits: d.cacheHits,
    ingest: p.ingest ?? null,
    preprocess: p.preprocess ?? null,
    pretrain: p.pretrain ? { ...p.pretrain, curve: x.training, averageImagesPerSec: x.avgImagesPerSec ?? null } : null,
    evaluation: p.evaluate
      ? {
          classification: x.classification,
          accuracyVsLabelFraction: x.labelPoints,
          detection: x.detection,
          result: p.evaluate,
        }
      : null,
    lineage: x.lineage,
    config: d.config ?? null,
  };
}

/**
 * Builds the run report: a single self-contained HTML page (inline CSS and SVG, readable without JavaScript) with
 * summary, pipeline stages, ingest, preprocess, pretraining curves, evaluation and lineage sections, and the JSON
 * document holding the same numbers. Sections whose stage did not run say so instead of disappearing.
 */
export async function buildReport(data: ReportData): Promise<{ html: string; json: unknown }> {
  const x = derive(data);
  const runName = data.pipeline.runName;
  const sections = [
    summarySection(data, x),
    await stagesSection(data, x),
    await ingestSection(data),
    preprocessSection(data),
    await pretrainSection(data, x),
    await evaluationSection(data, x),
    lineageSection(data, x),
    configSection(data),
  ];
  const nav = ['summary', 'stages', 'ingest', 'preprocess', 'pretrain', 'evaluation', 'lineage', 'config']
    .map((id) => `<a href="#${id}">${id}</a>`)
    .join(' · ');
  const html = `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="generator" content="seerflow report">
<title>seerflow report: ${esc(runName)}</title>
<style>${CSS}</style>
</head>
<body>
<main>
<h1>SEER run <code>${esc(runName)}</code></h1>
<p class="sub">ingest → preprocess → SwAV pretraining → evaluation · generated ${esc(data.generatedAt)}</p>
<nav class="note">${nav}</nav>
${sections.join('\n')}
</main>
</body>
</html>
`;
  return { html, json: reportJson(data, x) };
}
