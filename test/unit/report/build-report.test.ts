/**
 * The run report's content: every section present (or "not run"), charts are vega SVG with data marks carrying the
 * input's numbers, tables match the input, and the page is self-contained.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { S3Client } from '@aws-sdk/client-s3';
import { buildReport, canonicalJson, hashConfig, reportDataFrom, type ReportData } from '../../../report/build-report';
import { seedStat } from '../../../ml/stats';
import { writeReport } from '../../../report/write-report';
import { evaluation, pipelineResult, reportData, RUN } from './fixture';

const SECTIONS = ['summary', 'stages', 'ingest', 'preprocess', 'pretrain', 'evaluation', 'lineage', 'config'];

/** `data-chart` id -> the figure's inner markup. */
function charts(html: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const m of html.matchAll(/<figure class="chart" id="chart-([\w-]+)" data-chart="[\w-]+">([\s\S]*?)<\/figure>/g))
    out.set(m[1] as string, m[2] as string);
  return out;
}

interface Mark {
  kind: string;
  items: number;
  labels: string[];
}

/** vega's data-mark groups (`role-mark`) with their item count and per-item aria-labels. */
function marks(svg: string): Mark[] {
  return [...svg.matchAll(/<g class="mark-(\w+) role-mark[^"]*"[^>]*>([\s\S]*?)<\/g>/g)].map((m) => {
    const inner = m[2] as string;
    return {
      kind: m[1] as string,
      items: (inner.match(/<(path|line|text|rect)\b/g) ?? []).length,
      labels: [...inner.matchAll(/aria-label="([^"]*)"/g)].map((l) => (l[1] as string).replace(/&amp;/g, '&')),
    };
  });
}

function section(html: string, id: string): string {
  const m = html.match(new RegExp(`<section id="${id}">([\\s\\S]*?)</section>`));
  if (!m) throw new Error(`no section ${id}`);
  return m[1] as string;
}

/** Text of a table row whose first cell is `first` (tags stripped). */
function row(html: string, first: string): string[] {
  for (const m of html.matchAll(/<tr>([\s\S]*?)<\/tr>/g)) {
    const cells = [...(m[1] as string).matchAll(/<td[^>]*>([\s\S]*?)<\/td>/g)].map((c) =>
      (c[1] as string).replace(/<[^>]+>/g, '').trim(),
    );
    if (cells[0] === first) return cells;
  }
  throw new Error(`no row "${first}"`);
}

const pm = (values: number[], scale = 1, digits = 2) => {
  const s = seedStat(values);
  return `${(s.mean * scale).toFixed(digits)} ± ${(s.std * scale).toFixed(digits)}`;
};

describe('buildReport with an evaluation', () => {
  let html: string;
  let json: Record<string, unknown>;
  let data: ReportData;
  beforeAll(async () => {
    data = reportData(true);
    const r = await buildReport(data);
    html = r.html;
    json = r.json as Record<string, unknown>;
  }, 60_000);

  test('has every section, none of them "not run"', () => {
    for (const id of SECTIONS) expect(html).toContain(`<section id="${id}">`);
    expect(html).not.toContain('not run');
  });

  test('every chart is an inline SVG with data marks', () => {
    const c = charts(html);
    expect([...c.keys()]).toEqual([
      'stage-timings',
      'cache-hits',
      'ingest-outcome',
      'quarantine-reasons',
      'loss',
      'lr',
      'throughput',
      'accuracy-vs-labels',
      'accuracy-curves',
    ]);
    for (const [id, fig] of c) {
      expect(fig.trimStart().startsWith('<svg')).toBe(true);
      const items = marks(fig).reduce((n, x) => n + x.items, 0);
      expect([id, items > 0]).toEqual([id, true]); // the id names the chart on failure
    }
    // vega-lite rendered them (not hand-drawn): its mark/role classes are there
    expect(html).toMatch(/class="marks"/);
  });

  test('chart marks carry the input numbers', () => {
    const c = charts(html);
    const p = pipelineResult();
    // one bar per stage that ran, one timing label each
    const stage = marks(c.get('stage-timings') as string);
    expect(stage.find((m) => m.kind === 'rect')?.items).toBe(4);
    expect(stage.find((m) => m.kind === 'text')?.labels.join('|')).toContain('label: 42.0 s');
    // quarantine reasons: one bar per reason with its count
    const q = marks(c.get('quarantine-reasons') as string).find((m) => m.kind === 'rect') as Mark;
    expect(q.items).toBe(4);
    for (const [reason, n] of Object.entries(p.ingest.quarantineByReason))
      expect(q.labels).toContain(`objects quarantined: ${n}; reason: ${reason}`);
    // loss / throughput: one point per segment
    const loss = marks(c.get('loss') as string).find((m) => m.kind === 'symbol') as Mark;
    expect(loss.items).toBe(p.pretrain.history.length);
    expect(loss.labels[0]).toBe(`step: 50; SwAV loss: ${p.pretrain.history[0]?.loss}`);
    const tput = marks(c.get('throughput') as string).find((m) => m.kind === 'symbol') as Mark;
    expect(tput.labels).toContain('step: 300; images / s: 55');
    // accuracy vs label fraction: a mean per (protocol, init) without linear, an error bar each, every seed
    const acc = marks(c.get('accuracy-vs-labels') as string);
    const allLabels = acc.flatMap((m) => m.labels);
    expect(acc.find((m) => m.kind === 'rule')?.items).toBe(6);
    expect(allLabels).toContain(`pretrained, 1% labels (lowshot-1): top-1 ${pm([52.5, 49.8, 54.1])} over 3 seed(s)`);
    expect(allLabels).toContain(`scratch, 10% labels (lowshot-10): top-1 ${pm([60.1, 61.7, 58.8])} over 3 seed(s)`);
    expect(allLabels).toContain('scratch, 100% labels (finetune), seed 2: top-1 81.10');
    expect(allLabels.filter((l) => l.includes(', seed ')).length).toBe(18);
    expect(allLabels.some((l) => l.includes('linear'))).toBe(false);
    // per-epoch curves: a mean point per (protocol, init, epoch) with its seed stats; a faint line per seed
    const curves = marks(c.get('accuracy-curves') as string);
    const means = curves.filter((m) => m.kind === 'symbol').flatMap((m) => m.labels);
    expect(means).toHaveLength(4 * 2 * 5);
    expect(means).toContain(
      `lowshot-1, pretrained, epoch 1: top-1 ${pm([52.5 - 9, 49.8 - 9, 54.1 - 9])} over 3 seed(s)`,
    );
    expect(means).toContain(
      `linear, scratch, epoch 5: top-1 ${pm([38.4 - 0.3, 40.1 - 0.3, 39.0 - 0.3])} over 3 seed(s)`,
    );
    expect(curves.filter((m) => m.kind === 'line').reduce((n, m) => n + m.items, 0)).toBe(4 * 2 * (3 + 1));
  });

  test('tables match the input', () => {
    const p = pipelineResult();
    const ingest = section(html, 'ingest');
    expect(row(ingest, 'listed')).toEqual(['listed', '1,234']);
    expect(row(ingest, 'accepted')).toEqual(['accepted', '1,187']);
    expect(row(ingest, 'quarantined')).toEqual(['quarantined', '35']);
    for (const [reason, n] of Object.entries(p.ingest.quarantineByReason))
      expect(row(ingest, reason)).toEqual([reason, String(n)]);
    const prep = section(html, 'preprocess');
    expect(row(prep, 'images')).toEqual(['images', '1,183']);
    expect(row(prep, 'manifest shards')).toEqual(['manifest shards', '3 (1 reused)']);
    const pre = section(html, 'pretrain');
    expect(row(pre, 'final loss')).toEqual(['final loss', '4.3500']);
    expect(row(pre, 'average throughput')).toEqual(['average throughput', '40.0 images/s']); // 300 × 32 / 240
    const stages = section(html, 'stages');
    expect(row(stages, 'ingest').slice(4, 6)).toEqual(['42.0 s', '4 / 16 partitions reused']);
    expect(row(stages, 'pretrain').slice(4, 6)).toEqual(['4 min 15 s', '0 / 1 runs reused']);

    const ev = section(html, 'evaluation');
    const linear = row(ev, 'linear (frozen trunk)');
    expect(linear.slice(3, 6)).toEqual([
      pm([71.2, 70.6, 71.9]),
      pm([38.4, 40.1, 39.0]),
      `+${(seedStat([71.2, 70.6, 71.9]).mean - seedStat([38.4, 40.1, 39.0]).mean).toFixed(2)}`,
    ]);
    expect(linear[6]).toBe('71.20, 70.60, 71.90');
    expect(row(ev, 'low-shot 1% labels')[1]).toBe('1%');
    expect(row(ev, 'fine-tune (all labels)')[3]).toBe(pm([84.3, 83.9, 84.8]));
    const det = row(ev, 'pretrained');
    expect(det.slice(1, 6)).toEqual([
      '3',
      '4',
      pm([0.352, 0.347, 0.358], 100, 1),
      pm([0.561, 0.552, 0.57], 100, 1),
      pm([0.371, 0.366, 0.379], 100, 1),
    ]);
    expect(row(ev, 'scratch')[3]).toBe(pm([0.211, 0.223, 0.205], 100, 1));

    const summary = section(html, 'summary');
    expect(summary).toContain(pm([71.2, 70.6, 71.9]));
    expect(summary).toContain(data.configHash);
  });

  test('lineage links manifest -> shards -> checkpoint -> evaluation, with config hash and backend', () => {
    const p = pipelineResult();
    const lin = section(html, 'lineage');
    const order = [
      p.ingest.summaryKey,
      p.preprocess.datasetKey,
      p.pretrain.checkpoint.key,
      evaluation().resultKey,
      `runs/${RUN}/report/index.html`,
    ].map((k) => lin.indexOf(k));
    expect(order.every((i) => i > 0)).toBe(true);
    expect([...order].sort((a, b) => a - b)).toEqual(order);
    expect(lin).toContain(data.configHash);
    expect(data.configHash).toMatch(/^[0-9a-f]{64}$/);
    expect(lin).toContain('tensorflow (native CPU)');
    expect(lin).toContain('evaluation used this run’s checkpoint');
  });

  test('is self-contained: no URLs, scripts, external stylesheets or images', () => {
    expect(html).not.toMatch(/https?:\/\//i);
    expect(html).not.toMatch(/<script\b/i);
    expect(html).not.toMatch(/\bsrc\s*=/i);
    expect(html).not.toMatch(/<link\b/i);
    expect(html).not.toMatch(/url\(|@import/i);
    expect(html).toMatch(/^<!DOCTYPE html>/);
    expect(html).toContain('<style>');
  });

  test('JSON holds the same numbers', () => {
    expect(json.schema).toBe('seerflow.report/v1');
    expect(json.runName).toBe(RUN);
    expect(json.configHash).toBe(data.configHash);
    expect((json.ingest as { listed: number }).listed).toBe(1234);
    const pre = json.pretrain as { curve: unknown[]; averageImagesPerSec: number };
    expect(pre.curve).toHaveLength(6);
    expect(pre.averageImagesPerSec).toBeCloseTo(40);
    const ev = json.evaluation as {
      classification: { protocol: string; pretrained: { mean: number } }[];
      accuracyVsLabelFraction: unknown[];
    };
    expect(ev.classification.find((r) => r.protocol === 'linear')?.pretrained.mean).toBeCloseTo(
      seedStat([71.2, 70.6, 71.9]).mean,
      10,
    );
    expect(ev.accuracyVsLabelFraction).toHaveLength(6);
    expect(JSON.parse(JSON.stringify(json))).toEqual(json); // plain JSON
  });
});

describe('buildReport without an evaluation', () => {
  let html: string;
  let json: Record<string, unknown>;
  beforeAll(async () => {
    const r = await buildReport(reportData(false));
    html = r.html;
    json = r.json as Record<string, unknown>;
  }, 60_000);

  test('every section is present; evaluation says "not run" for each part', () => {
    for (const id of SECTIONS) expect(html).toContain(`<section id="${id}">`);
    const ev = section(html, 'evaluation');
    expect(ev.match(/not run \(the evaluation stage is not built yet\)/g)).toHaveLength(4);
    expect(charts(html).has('accuracy-vs-labels')).toBe(false);
    expect(section(html, 'lineage')).toMatch(/evaluation<\/span> <span class="note">not run/);
    expect(json.evaluation).toBeNull();
  });

  test('throughput falls back to the run average when segments are not known', () => {
    expect(charts(html).has('throughput')).toBe(false);
    expect(section(html, 'pretrain')).toContain('average 40.0 images/s (300 steps × batch 32 ÷ 240.0 s of compute)');
    // loss and LR still come from PretrainResult.history
    expect(marks(charts(html).get('loss') as string).find((m) => m.kind === 'symbol')?.items).toBe(6);
    expect(row(section(html, 'stages'), 'evaluate').slice(0, 2)).toEqual(['evaluate', 'not-built']);
  });
});

describe('buildReport on partial data', () => {
  test('a run that only ingested: later stages say "not run"; text is escaped', async () => {
    const p = pipelineResult();
    const ingest = { ...p.ingest, quarantineByReason: { '<script>alert(1)</script>': 2 } };
    const { html } = await buildReport(
      reportDataFrom(
        {
          runName: RUN,
          stages: {
            ingest: p.stages.ingest,
            preprocess: { status: 'failed', startedAt: p.stages.preprocess.startedAt as number },
          },
          ingest,
        },
        { generatedAt: 'now' },
      ),
    );
    expect(section(html, 'preprocess')).toContain('preprocess: not run');
    expect(section(html, 'pretrain')).toContain('pretraining: not run');
    expect(section(html, 'evaluation')).toContain('not run');
    expect(html).not.toMatch(/<script\b/i);
    expect(html).toContain('&lt;script&gt;alert(1)&lt;/script&gt;');
    expect(section(html, 'summary')).toContain('failed');
    expect(charts(html).has('stage-timings')).toBe(true);
  }, 60_000);
});

describe('buildReport with an initialisation that has no runs', () => {
  test('its cells say "no runs", never NaN', async () => {
    const ev = evaluation();
    const classification = ev.classification.filter((r) => !(r.protocol === 'lowshot-1' && r.init === 'scratch'));
    const summary = { ...ev.summary, 'lowshot-1': { pretrained: ev.summary['lowshot-1']?.pretrained } };
    const { html } = await buildReport(
      reportDataFrom({ ...pipelineResult(), evaluate: { ...ev, classification, summary } }, { generatedAt: 'now' }),
    );
    const cells = row(section(html, 'evaluation'), 'low-shot 1% labels');
    expect(cells[3]).toBe(pm([52.5, 49.8, 54.1]));
    expect([cells[4], cells[5], cells[7]]).toEqual(['no runs', '—', 'no runs']);
    expect(html).not.toContain('NaN');
  }, 60_000);
});

describe('helpers', () => {
  test('hashConfig ignores key order and sees every value', () => {
    expect(canonicalJson({ b: 1, a: { d: [2, { z: 1, y: 0 }], c: 3 } })).toBe(
      '{"a":{"c":3,"d":[2,{"y":0,"z":1}]},"b":1}',
    );
    expect(hashConfig({ a: 1, b: 2 })).toBe(hashConfig({ b: 2, a: 1 }));
    expect(hashConfig({ a: 1, b: 2 })).not.toBe(hashConfig({ a: 1, b: 3 }));
  });

  test('writeReport writes reports/<run>/ locally and runs/<run>/report/ in S3', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'seerflow-report-'));
    try {
      const sent: { Bucket: string; Key: string; ContentType: string; Body: Buffer }[] = [];
      const s3 = {
        send: async (cmd: { input: (typeof sent)[number] }) => void sent.push(cmd.input),
      } as unknown as S3Client;
      const loc = await writeReport({
        s3,
        bucket: 'b',
        runName: RUN,
        html: '<!DOCTYPE html><p>hi</p>',
        json: { a: 1 },
        localRoot: dir,
      });
      expect(loc.local.html).toBe(path.join(dir, RUN, 'index.html'));
      expect(readFileSync(loc.local.html, 'utf8')).toBe('<!DOCTYPE html><p>hi</p>');
      expect(JSON.parse(readFileSync(loc.local.json, 'utf8'))).toEqual({ a: 1 });
      expect(loc.s3).toEqual({
        bucket: 'b',
        htmlKey: `runs/${RUN}/report/index.html`,
        jsonKey: `runs/${RUN}/report/report.json`,
      });
      expect(sent.map((s) => [s.Bucket, s.Key, s.ContentType])).toEqual([
        ['b', `runs/${RUN}/report/index.html`, 'text/html; charset=utf-8'],
        ['b', `runs/${RUN}/report/report.json`, 'application/json'],
      ]);
      expect(sent[0]?.Body.toString()).toBe('<!DOCTYPE html><p>hi</p>');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
