/**
 * Cuts a reproducible benchmark corpus of 500x375 JPEGs (quality 90) from the real photos that Debian packages
 * install (lomiri-wallpapers-*, palapeli-data, mate-backgrounds, ...; see the data reference). Crop i comes from
 * photo i mod P at a position and scale drawn from `Rng.keyed(seed, i)`, so the same packages give the same files.
 *
 *   npx tsc -p tsconfig.json && node dist/bench/make-photo-corpus.js [--out DIR] [--count 600] [--seed 0]
 */
import { mkdirSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import sharp from 'sharp';
import { Rng } from '../ml/rng';

/** Folders searched for photos, in this order (missing ones are skipped). */
export const PHOTO_DIRS = [
  '/usr/share/backgrounds',
  '/usr/share/backgrounds/mate/nature',
  '/usr/share/palapeli/collection',
  '/usr/share/wallpapers',
  '/usr/lib/python3/dist-packages/sklearn/datasets/images',
];

/** Known non-photos in those folders (drawings, patterns). */
const NOT_PHOTOS = [/Painting-Colors/i, /analogpattern/i];

/** Every JPEG at least 500x375 in the photo folders, sorted for reproducibility. */
export async function listPhotos(dirs: readonly string[] = PHOTO_DIRS): Promise<string[]> {
  const found: string[] = [];
  for (const dir of dirs) {
    let names: string[];
    try {
      names = readdirSync(dir);
    } catch {
      continue;
    }
    for (const name of names.sort()) {
      const path = join(dir, name);
      if (!/\.jpe?g$/i.test(name) || NOT_PHOTOS.some((re) => re.test(name)) || !statSync(path).isFile()) continue;
      const meta = await sharp(path).metadata();
      if ((meta.width ?? 0) >= 500 && (meta.height ?? 0) >= 375) found.push(path);
    }
  }
  return found;
}

/** Write `count` crops to `outDir` as photo-00000.jpg ...; returns the file paths. */
export async function makePhotoCorpus(outDir: string, count: number, seed = 0): Promise<string[]> {
  const photos = await listPhotos();
  if (photos.length === 0) {
    throw new Error('no photos found; install e.g. lomiri-wallpapers-16.04 palapeli-data mate-backgrounds');
  }
  mkdirSync(outDir, { recursive: true });
  const sizes = await Promise.all(photos.map(async (p) => sharp(p).metadata()));
  const out: string[] = [];
  for (let i = 0; i < count; i++) {
    const k = i % photos.length;
    const { width = 0, height = 0 } = sizes[k]!;
    const rng = Rng.keyed(seed, i);
    // a 4:3 window between 500x375 and the largest that fits, placed uniformly
    const maxW = Math.min(width, Math.floor((height * 4) / 3));
    const w = Math.round(500 + (maxW - 500) * rng.next());
    const h = Math.min(height, Math.round((w * 3) / 4));
    const left = rng.int(width - w + 1);
    const top = rng.int(height - h + 1);
    const file = join(outDir, `photo-${String(i).padStart(5, '0')}.jpg`);
    const jpeg = await sharp(photos[k]!)
      .extract({ left, top, width: w, height: h })
      .resize(500, 375, { fit: 'fill' })
      .jpeg({ quality: 90 })
      .toBuffer();
    writeFileSync(file, jpeg);
    out.push(file);
  }
  writeFileSync(join(outDir, 'sources.json'), JSON.stringify({ seed, count, photos }, null, 2));
  return out;
}

if (require.main === module) {
  const arg = (name: string, dflt: string): string => {
    const i = process.argv.indexOf(`--${name}`);
    return i >= 0 && process.argv[i + 1] ? (process.argv[i + 1] as string) : dflt;
  };
  const outDir = arg('out', '.seerflow/bench/photo-corpus');
  makePhotoCorpus(outDir, Number(arg('count', '600')), Number(arg('seed', '0')))
    .then((files) => console.log(`wrote ${files.length} JPEGs to ${outDir}`))
    .catch((err) => {
      console.error(err);
      process.exit(1);
    });
}
