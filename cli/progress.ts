/**
 * Live progress for a running pipeline or stage, fed only by workflow queries (the UI never touches the work).
 * A bar per stage on a terminal; plain lines otherwise (CI logs, pipes).
 */
import type { Client, WorkflowHandle } from '@temporalio/client';
import cliProgress from 'cli-progress';
import type { PipelineProgress } from '../contracts/pipeline';
import type { IngestProgress } from '../workflows/ingest';
import type { PrepareProgress } from '../workflows/prepare';
import type { PretrainProgress } from '../contracts/pretrain';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function tryQuery<T>(handle: WorkflowHandle, name: string): Promise<T | undefined> {
  try {
    return (await handle.query(name)) as T;
  } catch {
    return undefined; // not started yet, or closed before the query was answered
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

export interface Snapshot {
  pipeline?: PipelineProgress;
  ingest?: IngestProgress;
  prepare?: PrepareProgress;
  pretrain?: PretrainProgress;
}

export async function snapshot(client: Client, workflowId: string): Promise<Snapshot & { status: string; type: string }> {
  const handle = client.workflow.getHandle(workflowId);
  const desc = await handle.describe();
  const out: Snapshot & { status: string; type: string } = { status: desc.status.name, type: desc.type };
  if (desc.type === 'seerPipelineWorkflow') {
    out.pipeline = await tryQuery<PipelineProgress>(handle, 'progress');
    const ingestId = out.pipeline?.stages.ingest.workflowId;
    if (ingestId) out.ingest = await tryQuery<IngestProgress>(client.workflow.getHandle(ingestId), 'ingestProgress');
    const prepareId = out.pipeline?.stages.preprocess.workflowId;
    if (prepareId) out.prepare = await tryQuery<PrepareProgress>(client.workflow.getHandle(prepareId), 'prepareProgress');
    const pretrainId = out.pipeline?.stages.pretrain.workflowId;
    if (pretrainId) out.pretrain = await tryQuery<PretrainProgress>(client.workflow.getHandle(pretrainId), 'pretrainProgress');
  } else if (desc.type === 'pretrainWorkflow') {
    out.pretrain = await tryQuery<PretrainProgress>(handle, 'pretrainProgress');
  } else if (desc.type === 'ingestWorkflow') {
    out.ingest = await tryQuery<IngestProgress>(handle, 'ingestProgress');
  } else if (desc.type === 'prepareWorkflow') {
    out.prepare = await tryQuery<PrepareProgress>(handle, 'prepareProgress');
  }
  return out;
}

export function describeSnapshot(s: Snapshot & { status: string }): string {
  const parts = [`status ${s.status}`];
  if (s.pipeline) parts.push(`stage ${s.pipeline.stage}`);
  if (s.ingest) {
    const t = s.ingest.totals;
    parts.push(
      `ingest ${s.ingest.partitionsDone}/${s.ingest.partitions} partitions, listed ${t.listed}, accepted ${t.accepted}, quarantined ${t.quarantined}, unchanged ${t.unchanged}`
    );
  }
  if (s.prepare) {
    parts.push(`preprocess ${s.prepare.shardsDone}/${s.prepare.shards} shards, ${s.prepare.images} images, ${s.prepare.quarantined} quarantined`);
  }
  if (s.pretrain) parts.push(`pretrain ${pretrainDetail(s.pretrain)}`);
  return parts.join(' | ');
}

/** Follows a workflow until it closes, rendering progress, and returns its result. */
export async function follow<T>(client: Client, workflowId: string, intervalMs = 1000): Promise<T> {
  const handle = client.workflow.getHandle(workflowId);
  const tty = Boolean(process.stderr.isTTY);
  const bars = tty
    ? new cliProgress.MultiBar(
        { format: ' {stage} |{bar}| {value}/{total} {detail}', hideCursor: true, clearOnComplete: false, stream: process.stderr },
        cliProgress.Presets.shades_classic
      )
    : undefined;
  const ingestBar = bars?.create(1, 0, { stage: 'ingest    ', detail: 'planning…' });
  const prepareBar = bars?.create(1, 0, { stage: 'preprocess', detail: 'waiting' });
  const pretrainBar = bars?.create(1, 0, { stage: 'pretrain  ', detail: 'waiting' });
  const stageBar = bars?.create(4, 0, { stage: 'pipeline  ', detail: '' });
  const prepareDetail = (p: PrepareProgress) => `shards | ${p.images} images, ${p.quarantined} quarantined, ${p.cachedShards} cached`;
  let lastLine = '';
  let lastPrinted = 0;
  const resultPromise = handle.result() as Promise<T>;
  let closed = false;
  resultPromise.then(
    () => (closed = true),
    () => (closed = true)
  );
  try {
    while (!closed) {
      const s = await snapshot(client, workflowId).catch(() => undefined);
      if (s) {
        if (bars) {
          if (s.ingest) {
            const t = s.ingest.totals;
            ingestBar?.setTotal(Math.max(1, s.ingest.partitions));
            ingestBar?.update(s.ingest.partitionsDone, {
              detail: `partitions | ${t.listed} listed, ${t.accepted} ok, ${t.quarantined} quarantined, ${t.unchanged} unchanged`,
            });
          }
          if (s.prepare) {
            prepareBar?.setTotal(Math.max(1, s.prepare.shards));
            prepareBar?.update(s.prepare.shardsDone, { detail: prepareDetail(s.prepare) });
          }
          if (s.pretrain) {
            pretrainBar?.setTotal(Math.max(1, s.pretrain.totalSteps));
            pretrainBar?.update(s.pretrain.step, { detail: `steps | ${pretrainDetail(s.pretrain)}` });
          }
          if (s.pipeline) {
            const done = Object.values(s.pipeline.stages).filter((x) => x.status === 'done').length;
            stageBar?.update(done, { detail: `stage: ${s.pipeline.stage}` });
          }
        } else {
          const line = describeSnapshot(s);
          if (line !== lastLine && Date.now() - lastPrinted > 2000) {
            process.stderr.write(`${line}\n`);
            lastLine = line;
            lastPrinted = Date.now();
          }
        }
      }
      await Promise.race([sleep(intervalMs), resultPromise.catch(() => undefined)]);
    }
    const final = await snapshot(client, workflowId).catch(() => undefined);
    if (final?.ingest && ingestBar) {
      const t = final.ingest.totals;
      ingestBar.update(final.ingest.partitions, {
        detail: `partitions | ${t.listed} listed, ${t.accepted} ok, ${t.quarantined} quarantined, ${t.unchanged} unchanged`,
      });
    }
    if (final?.prepare && prepareBar) {
      prepareBar.setTotal(Math.max(1, final.prepare.shards));
      prepareBar.update(final.prepare.shards, { detail: prepareDetail(final.prepare) });
    }
    if (final?.pretrain && pretrainBar) {
      pretrainBar.setTotal(Math.max(1, final.pretrain.totalSteps));
      pretrainBar.update(final.pretrain.step, { detail: `steps | ${pretrainDetail(final.pretrain)}` });
    }
    if (final?.pipeline && stageBar) {
      stageBar.update(Object.values(final.pipeline.stages).filter((x) => x.status === 'done').length, { detail: `stage: ${final.pipeline.stage}` });
    }
  } finally {
    bars?.stop();
  }
  return resultPromise;
}
