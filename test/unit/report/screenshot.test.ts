/**
 * The report as a browser draws it: headless Chromium screenshots of the real HTML, checked for a non-blank page
 * and for charts whose regions hold drawn data marks (coloured pixels), not for exact pixels. Chromium is
 * required: without it this test fails with the install hint (scripts/install-chromium.sh), it never skips.
 * Screenshots are left in <tmp>/seerflow-report-screenshots/ for a look.
 */
import { spawnSync } from 'node:child_process';
import { accessSync, constants, mkdirSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import sharp from 'sharp';
import { buildReport } from '../../../report/build-report';
import { reportData } from './fixture';

const OUT = path.join(tmpdir(), 'seerflow-report-screenshots');
const INSTALL_HINT =
  'headless Chromium is needed for the report screenshot test: run `scripts/install-chromium.sh` (as root), or set SEERFLOW_CHROMIUM=/path/to/chromium';

function findChromium(): string {
  const candidates = [
    process.env.SEERFLOW_CHROMIUM,
    'chromium',
    'chromium-browser',
    'google-chrome',
    'google-chrome-stable',
  ];
  for (const c of candidates) {
    if (!c) continue;
    const dirs = c.includes('/') ? [''] : (process.env.PATH ?? '').split(path.delimiter);
    for (const d of dirs) {
      const file = d ? path.join(d, c) : c;
      try {
        accessSync(file, constants.X_OK);
        if (statSync(file).isFile()) return file;
      } catch {
        // not here
      }
    }
  }
  throw new Error(`no Chromium found (looked for ${candidates.filter(Boolean).join(', ')} on PATH). ${INSTALL_HINT}`);
}

let profile: string;

/** Screenshots `htmlFile` into `png` at the given window size. */
function screenshot(browser: string, htmlFile: string, png: string, width: number, height: number): void {
  rmSync(png, { force: true });
  const res = spawnSync(
    browser,
    [
      '--headless',
      '--no-sandbox', // containers and CI often run as root, where Chromium's sandbox refuses to start
      '--disable-gpu',
      '--hide-scrollbars',
      '--no-first-run',
      '--force-device-scale-factor=1',
      `--user-data-dir=${profile}`,
      `--screenshot=${png}`,
      `--window-size=${width},${height}`,
      pathToFileURL(htmlFile).href,
    ],
    { encoding: 'utf8', timeout: 90_000 },
  );
  if (res.error || res.status !== 0 || !statSync(png, { throwIfNoEntry: false })) {
    throw new Error(
      `chromium screenshot failed (status ${res.status}, ${res.error?.message ?? ''}): ${res.stderr.slice(-2000)}\n${INSTALL_HINT}`,
    );
  }
}

interface Pixels {
  width: number;
  height: number;
  /** RGB, row-major */
  data: Uint8Array;
}

async function decode(png: string): Promise<Pixels> {
  const { data, info } = await sharp(png).removeAlpha().raw().toBuffer({ resolveWithObject: true });
  return { width: info.width, height: info.height, data };
}

/** max - min channel: 0 for greys (text, axes, rules), large for coloured data marks. */
function chroma(r: number, g: number, b: number): number {
  // Plain comparisons: Math.max/min inside Jest's sandbox are not inlined and make these loops 50x slower.
  const hi = r > g ? (r > b ? r : b) : g > b ? g : b;
  const lo = r < g ? (r < b ? r : b) : g < b ? g : b;
  return hi - lo;
}

interface RegionStats {
  /** standard deviation of luminance */
  lumaStd: number;
  /** fraction of pixels that differ from the region's most common colour */
  inked: number;
  /** pixels with clearly coloured (non-grey) content: chart data marks, not axes or text */
  coloured: number;
}

function regionStats(px: Pixels, x0: number, y0: number, w: number, h: number): RegionStats {
  const x1 = Math.min(px.width, x0 + w);
  const y1 = Math.min(px.height, y0 + h);
  const counts = new Map<number, number>();
  let n = 0;
  let sum = 0;
  let sum2 = 0;
  let coloured = 0;
  for (let y = y0; y < y1; y++) {
    for (let x = x0; x < x1; x++) {
      const i = (y * px.width + x) * 3;
      const r = px.data[i] as number;
      const g = px.data[i + 1] as number;
      const b = px.data[i + 2] as number;
      const luma = 0.299 * r + 0.587 * g + 0.114 * b;
      sum += luma;
      sum2 += luma * luma;
      n++;
      if (chroma(r, g, b) > 60) coloured++;
      const key = (r << 16) | (g << 8) | b;
      counts.set(key, (counts.get(key) ?? 0) + 1);
    }
  }
  const mode = Math.max(...counts.values());
  const mean = sum / n;
  return { lumaStd: Math.sqrt(Math.max(0, sum2 / n - mean * mean)), inked: 1 - mode / n, coloured };
}

/** Row bands (at least `minRows` consecutive rows) with at least `minPerRow` coloured pixels in each row. */
function colouredBands(px: Pixels, minPerRow: number, minRows: number): { top: number; bottom: number }[] {
  const bands: { top: number; bottom: number }[] = [];
  let start = -1;
  for (let y = 0; y <= px.height; y++) {
    let c = 0;
    if (y < px.height) {
      for (let x = 0; x < px.width; x++) {
        const i = (y * px.width + x) * 3;
        const r = px.data[i] as number;
        const g = px.data[i + 1] as number;
        const b = px.data[i + 2] as number;
        if (chroma(r, g, b) > 60) c++;
      }
    }
    if (c >= minPerRow && start < 0) start = y;
    if (c < minPerRow && start >= 0) {
      if (y - start >= minRows) bands.push({ top: start, bottom: y });
      start = -1;
    }
  }
  return bands;
}

describe('report screenshot (headless Chromium)', () => {
  let browser: string;
  let html: string;
  let work: string;
  let blank: RegionStats;

  beforeAll(async () => {
    browser = findChromium(); // throws (the tests fail) with the install hint when missing
    mkdirSync(OUT, { recursive: true });
    work = mkdtempSync(path.join(tmpdir(), 'seerflow-report-'));
    profile = path.join(work, 'profile');
    html = (await buildReport(reportData(true))).html;
    // A blank page of the same size: what "nothing drawn" looks like to the checks below.
    const blankFile = path.join(work, 'blank.html');
    writeFileSync(blankFile, '<!DOCTYPE html><html><body style="margin:0;background:#fff"></body></html>');
    screenshot(browser, blankFile, path.join(OUT, 'blank.png'), 1200, 2400);
    const b = await decode(path.join(OUT, 'blank.png'));
    blank = regionStats(b, 0, 0, b.width, b.height);
  }, 180_000);

  afterAll(() => {
    if (work) rmSync(work, { recursive: true, force: true });
  });

  test('the report page renders, non-blank, with charts drawn in the first screen', async () => {
    const file = path.join(work, 'index.html');
    writeFileSync(file, html);
    const png = path.join(OUT, 'report.png');
    screenshot(browser, file, png, 1200, 2400);
    const px = await decode(png);
    expect([px.width, px.height]).toEqual([1200, 2400]);
    expect(blank.lumaStd).toBeLessThan(1);
    const page = regionStats(px, 0, 0, px.width, px.height);
    expect(page.lumaStd).toBeGreaterThan(blank.lumaStd + 10);
    expect(page.inked).toBeGreaterThan(0.02);
    // Stage timings, cache hits, ingest outcome and quarantine bars are in the first 2400 px: each is a band of
    // rows with many coloured pixels (text and table rules are grey; links and badges are too thin to count).
    const bands = colouredBands(px, 150, 12);
    expect(bands.length).toBeGreaterThanOrEqual(3);
  }, 120_000);

  test('every chart region holds drawn data marks', async () => {
    // Each chart of the report, with the report's own CSS, in a fixed cell: known regions to inspect.
    const style = html.match(/<style>[\s\S]*?<\/style>/)?.[0] ?? '';
    const figures = [...html.matchAll(/<figure class="chart"[\s\S]*?<\/figure>/g)].map((m) => m[0]);
    const ids = figures.map((f) => f.match(/data-chart="([\w-]+)"/)?.[1] ?? '?');
    expect(ids).toEqual([
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
    const W = 590;
    const H = 440;
    const cells = [...figures, '<figure class="chart" data-chart="control"></figure>']; // control: an empty cell
    const sheet = `<!DOCTYPE html><html><head><meta charset="utf-8">${style}<style>body{margin:0;background:#fff} .cell{position:absolute;width:${W}px;height:${H}px;overflow:hidden;padding:10px} .cell figcaption{display:none}</style></head><body>${cells
      .map(
        (f, i) =>
          `<div class="cell" style="left:${(i % 2) * (W + 10)}px;top:${Math.floor(i / 2) * (H + 10)}px">${f}</div>`,
      )
      .join('')}</body></html>`;
    const file = path.join(work, 'charts.html');
    writeFileSync(file, sheet);
    const rows = Math.ceil(cells.length / 2);
    const png = path.join(OUT, 'charts.png');
    screenshot(browser, file, png, 1200, rows * (H + 10));
    const px = await decode(png);
    const stats = cells.map((_, i) => regionStats(px, (i % 2) * (W + 10), Math.floor(i / 2) * (H + 10), W, H));
    const control = stats[stats.length - 1] as RegionStats;
    expect(control.coloured).toBe(0);
    expect(control.lumaStd).toBeLessThan(1);
    ids.forEach((id, i) => {
      const s = stats[i] as RegionStats;
      // axes, labels and marks: clearly not blank; data marks: hundreds of coloured pixels
      expect({ id, notBlank: s.lumaStd > control.lumaStd + 8 && s.inked > 0.02, marks: s.coloured > 300 }).toEqual({
        id,
        notBlank: true,
        marks: true,
      });
    });
  }, 120_000);
});
