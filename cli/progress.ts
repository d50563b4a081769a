/**
 * Live progress for a running pipeline or stage, fed only by workflow queries (the UI never touches the work).
 * A bar per stage on a terminal; plain lines otherwise (CI logs, pipes).
 */
import type { Client, WorkflowHandle } from '@temporalio/client';
import type { QueryDefinition } from '@temporalio/common';
import cliProgress from 'cli-progress';
import { evaluateProgressQuery, type EvaluateProgress } from '../contracts/evaluate';
import { ingestProgressQuery, type IngestProgress } from '../contracts/ingest';
import { pipelineProgressQuery, type PipelineProgress } from '../contracts/pipeline';
import { preprocessProgressQuery, type PreprocessProgress } from '../contracts/preprocess';
import { pretrainProgressQuery, type PretrainProgress } from '../contracts/pretrain';
import { loadServiceSettings } from '../infra/settings';
import { waitingNotice, waitingWork } from './waiting-work';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** A query no worker answers (none polls) would hold the progress for the server's 30 s; this is the CLI's limit. */
const QUERY_DEADLINE_MS = 5000;

async function tryQuery<T>(handle: WorkflowHandle, query: QueryDefinition<T>): Promise<T | undefined> {
  try {
    return await handle.client.connection.withDeadline(Date.now() + QUERY_DEADLINE_MS, () => handle.query(query));
  } catch {
    return undefined; // not started yet, no worker to answer, or closed before the query was answered
  }
}

function pretrainDetail(p: PretrainProgress): string {
  const bits = [`step ${p.step}/${p.totalSteps}`, `epoch ${Math.min(p.epoch + 1, p.epochs)}/${p.epochs}`];
  if (p.loss !== undefined && Number.isFinite(p.loss)) bits.push(`loss ${p.loss.toFixed(3)}`);
  if (p.lr !== undefined) bits.push(`lr ${p.lr.toPrecision(3)}`);
  if (p.imagesPerSec) bits.push(`${p.imagesPerSec.toFixed(0)} img/s`);
  if (p.etaSeconds !== undefined) bits.push(`ETA ${Math.round(p.etaSeconds)}s`);
  if (p.backend) bits.push(p.backend);
  if (p.paused) bits.push('PAUSED');
  return bits.join(', ');
}

/** The evaluate stage in one line: the run in progress and the newest finished result. */
export function evaluateDetail(p: EvaluateProgress): string {
  const bits = [p.current ? `running ${p.current}` : p.done === p.total ? 'summarizing' : 'preparing data'];
  const det = p.finishedDetection.at(-1);
  const cls = p.finished.at(-1);
  // Detection runs come after every classification run, so a finished detection run is the newest result.
  if (det) bits.push(`last detection/${det.init}/seed${det.seed} AP ${(100 * det.ap).toFixed(1)}`);
  else if (cls) bits.push(`last ${cls.protocol}/${cls.init}/seed${cls.seed} top-1 ${cls.top1.toFixed(1)}`);
  return bits.join(', ');
}

export interface Snapshot {
  pipeline?: PipelineProgress;
  ingest?: IngestProgress;
  preprocess?: PreprocessProgress;
  pretrain?: PretrainProgress;
  evaluate?: EvaluateProgress;
}

export async function snapshot(
  client: Client,
  workflowId: string,
): Promise<Snapshot & { status: string; type: string }> {
  const handle = client.workflow.getHandle(workflowId);
  const desc = await handle.describe();
  const out: Snapshot & { status: string; type: string } = { status: desc.status.name, type: desc.type };
  if (desc.type === 'seerPipelineWorkflow') {
    out.pipeline = await tryQuery(handle, pipelineProgressQuery);
    const ingestId = out.pipeline?.stages.ingest.workflowId;
    if (ingestId) out.ingest = await tryQuery(client.workflow.getHandle(ingestId), ingestProgressQuery);
    const preprocessId = out.pipeline?.stages.preprocess.workflowId;
    if (preprocessId) out.preprocess = await tryQuery(client.workflow.getHandle(preprocessId), preprocessProgressQuery);
    const pretrainId = out.pipeline?.stages.pretrain.workflowId;
    if (pretrainId) out.pretrain = await tryQuery(client.workflow.getHandle(pretrainId), pretrainProgressQuery);
    const evaluateId = out.pipeline?.stages.evaluate.workflowId;
    if (evaluateId) out.evaluate = await tryQuery(client.workflow.getHandle(evaluateId), evaluateProgressQuery);
  } else if (desc.type === 'evaluateWorkflow') {
    out.evaluate = await tryQuery(handle, evaluateProgressQuery);
  } else if (desc.type === 'pretrainWorkflow') {
    out.pretrain = await tryQuery(handle, pretrainProgressQuery);
  } else if (desc.type === 'ingestWorkflow') {
    out.ingest = await tryQuery(handle, ingestProgressQuery);
  } else if (desc.type === 'preprocessWorkflow') {
    out.preprocess = await tryQuery(handle, preprocessProgressQuery);
  }
  return out;
}

export function describeSnapshot(s: Snapshot & { status: string }): string {
  const parts = [`status ${s.status}`];
  if (s.pipeline) parts.push(`stage ${s.pipeline.stage}`);
  if (s.ingest) {
    const t = s.ingest.totals;
    parts.push(
      `ingest ${s.ingest.partitionsDone}/${s.ingest.partitions} partitions, listed ${t.listed}, accepted ${t.accepted}, quarantined ${t.quarantined}, unchanged ${t.unchanged}`,
    );
  }
  if (s.preprocess) {
    parts.push(
      `preprocess ${s.preprocess.shardsDone}/${s.preprocess.shards} shards, ${s.preprocess.images} images, ${s.preprocess.quarantined} quarantined`,
    );
  }
  if (s.pretrain) parts.push(`pretrain ${pretrainDetail(s.pretrain)}`);
  if (s.evaluate) parts.push(`evaluate ${s.evaluate.done}/${s.evaluate.total} runs, ${evaluateDetail(s.evaluate)}`);
  return parts.join(' | ');
}

type BarName = 'ingest' | 'preprocess' | 'pretrain' | 'evaluate' | 'pipeline';

/** Bar total, value and detail text of each stage present in a snapshot (pipeline last). */
export function barStates(s: Snapshot, final: boolean): [BarName, number, number, string][] {
  const out: [BarName, number, number, string][] = [];
  if (s.ingest) {
    const t = s.ingest.totals;
    const detail = `partitions | ${t.listed} listed, ${t.accepted} ok, ${t.quarantined} quarantined, ${t.unchanged} unchanged`;
    out.push(['ingest', s.ingest.partitions, final ? s.ingest.partitions : s.ingest.partitionsDone, detail]);
  }
  if (s.preprocess) {
    const p = s.preprocess;
    out.push([
      'preprocess',
      p.shards,
      final ? p.shards : p.shardsDone,
      `shards | ${p.images} images, ${p.quarantined} quarantined, ${p.cachedShards} cached`,
    ]);
  }
  if (s.pretrain)
    out.push(['pretrain', s.pretrain.totalSteps, s.pretrain.step, `steps | ${pretrainDetail(s.pretrain)}`]);
  if (s.evaluate) out.push(['evaluate', s.evaluate.total, s.evaluate.done, `runs | ${evaluateDetail(s.evaluate)}`]);
  if (s.pipeline) {
    const done = Object.values(s.pipeline.stages).filter((x) => x.status === 'done').length;
    out.push(['pipeline', Object.keys(s.pipeline.stages).length, done, `stage: ${s.pipeline.stage}`]);
  }
  return out;
}

/** How long a task may wait for a worker before the live progress says so, and how often that is checked. */
export const WORKER_WATCH = { graceMs: 15_000, everyMs: 5_000, repeatMs: 60_000 } as const;

/**
 * Says when the followed tree has tasks no worker takes (a queue without workers would otherwise look like a
 * stuck progress bar): once when it starts, again every `repeatMs` while it lasts, and once when it ends.
 */
function workerWatch(client: Client, workflowId: string, print: (line: string) => void): () => Promise<void> {
  const queues = loadServiceSettings().taskQueues;
  let nextCheck = Date.now() + WORKER_WATCH.everyMs;
  let shown = '';
  let shownAt = 0;
  return async () => {
    if (Date.now() < nextCheck) return;
    nextCheck = Date.now() + WORKER_WATCH.everyMs;
    const scan = await waitingWork(client, workflowId, WORKER_WATCH.graceMs).catch(() => undefined);
    if (!scan) return;
    const key = scan.waiting.map((w) => w.queue).join(',');
    if (key === shown && (key === '' || Date.now() - shownAt < WORKER_WATCH.repeatMs)) return;
    if (key) print(waitingNotice(scan.waiting, queues));
    else print(`workers took the waiting tasks on ${shown}`);
    shown = key;
    shownAt = Date.now();
  };
}

/**
 * Follows a workflow (the pipeline or one stage) until it closes, rendering progress, and returns its result.
 * A stage's bar appears when the stage starts reporting; tasks that no worker takes are reported as such.
 */
export async function follow<T>(client: Client, workflowId: string, intervalMs = 1000): Promise<T> {
  const handle = client.workflow.getHandle(workflowId);
  const tty = Boolean(process.stderr.isTTY);
  const bars = tty
    ? new cliProgress.MultiBar(
        {
          format: ' {stage} |{bar}| {value}/{total} {detail}',
          hideCursor: true,
          clearOnComplete: false,
          stream: process.stderr,
        },
        cliProgress.Presets.shades_classic,
      )
    : undefined;
  const created = new Map<BarName, cliProgress.SingleBar>();
  const render = (s: Snapshot, final: boolean) => {
    for (const [name, total, value, detail] of barStates(s, final)) {
      let bar = created.get(name);
      if (!bar && bars) {
        // Keep the pipeline's own bar below the stage bars: take it out; it is re-created after this stage's.
        const pipelineBar = created.get('pipeline');
        if (pipelineBar && name !== 'pipeline') {
          bars.remove(pipelineBar);
          created.delete('pipeline');
        }
        bar = bars.create(Math.max(1, total), 0, { stage: name.padEnd(10), detail });
        created.set(name, bar);
      }
      bar?.setTotal(Math.max(1, total));
      bar?.update(value, { detail });
    }
  };
  const watchWorkers = workerWatch(client, workflowId, (line) =>
    bars ? bars.log(`${line}\n`) : process.stderr.write(`${line}\n`),
  );
  let lastLine = '';
  let lastPrinted = 0;
  const resultPromise = handle.result() as Promise<T>;
  let closed = false;
  resultPromise.then(
    () => (closed = true),
    () => (closed = true),
  );
  try {
    while (!closed) {
      const s = await snapshot(client, workflowId).catch(() => undefined);
      if (s && bars) render(s, false);
      else if (s) {
        const line = describeSnapshot(s);
        if (line !== lastLine && Date.now() - lastPrinted > 2000) {
          process.stderr.write(`${line}\n`);
          lastLine = line;
          lastPrinted = Date.now();
        }
      }
      await watchWorkers();
      await Promise.race([sleep(intervalMs), resultPromise.catch(() => undefined)]);
    }
    const final = await snapshot(client, workflowId).catch(() => undefined);
    if (final && bars) render(final, true);
  } finally {
    bars?.stop();
  }
  return resultPromise;
}
