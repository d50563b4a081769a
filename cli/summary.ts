/** Human-readable end-of-run summaries. */
import type { IngestResult } from '../contracts/ingest';
import { formatEvaluation } from './eval-table';
import type { PipelineResult } from '../contracts/pipeline';
import type { PreprocessResult } from '../contracts/preprocess';
import type { PretrainResult } from '../contracts/pretrain';

export function formatIngest(r: IngestResult): string {
  const lines = [
    `ingest ${r.runName}: ${r.partitions} partitions (${r.cachedPartitions} reused), ${r.coordinatorRuns} coordinator run(s)`,
    `  listed      ${r.listed}`,
    `  accepted    ${r.accepted}  (${(r.bytes / 1e6).toFixed(1)} MB in ${r.manifestShards} manifest shards)`,
    `  quarantined ${r.quarantined}${
      Object.keys(r.quarantineByReason).length
        ? `  ${Object.entries(r.quarantineByReason)
            .map(([k, v]) => `${k}=${v}`)
            .join(', ')}`
        : ''
    }`,
    `  unchanged   ${r.unchanged}`,
    `  reconciled  ${r.reconciled ? 'yes' : 'NO'}: listed = accepted + quarantined + unchanged`,
    `  summary     ${r.summaryKey}`,
  ];
  return lines.join('\n');
}

export function formatPreprocess(r: PreprocessResult): string {
  return [
    `preprocess ${r.runName}: ${r.shards} manifest shards (${r.cachedShards} reused) -> ${r.parts} tar parts, ${(r.bytes / 1e6).toFixed(1)} MB`,
    `  images      ${r.images}`,
    `  quarantined ${r.quarantined}  (failed to decode)`,
    `  reconciled  ${r.reconciled ? 'yes' : 'NO'}: manifest entries ${r.entries} = images + quarantined`,
    `  dataset     ${r.datasetKey}`,
  ].join('\n');
}

export function formatPretrain(r: PretrainResult): string {
  return [
    `pretrain ${r.runName}: ${r.steps} steps over ${r.epochs} epoch(s) on ${r.backend}, ${r.cached ? 'already trained (reused)' : `${r.computeSeconds.toFixed(1)}s of compute`}`,
    `  final loss  ${r.finalLoss.toFixed(4)}`,
    `  checkpoint  ${r.checkpoint.key}`,
  ].join('\n');
}

export function formatPipeline(r: PipelineResult): string {
  const stages = Object.entries(r.stages)
    .map(([name, s]) => {
      const secs = s.startedAt && s.finishedAt ? ` ${((s.finishedAt - s.startedAt) / 1000).toFixed(1)}s` : '';
      return `  ${name.padEnd(11)} ${s.status}${secs}`;
    })
    .join('\n');
  return `pipeline ${r.runName}\n${stages}\n${formatIngest(r.ingest)}\n${formatPreprocess(r.preprocess)}\n${formatPretrain(r.pretrain)}${r.evaluate ? `\n${formatEvaluation(r.evaluate)}` : ''}`;
}

export function workflowUiUrl(uiUrl: string, namespace: string, workflowId: string): string {
  return `${uiUrl}/namespaces/${encodeURIComponent(namespace)}/workflows/${encodeURIComponent(workflowId)}`;
}
