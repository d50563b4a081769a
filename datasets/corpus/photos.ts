/**
 * Real colour photos shipped by small Debian packages, used as-is (original JPEG bytes, native size) so the
 * corpus holds large, progressive and ICC-tagged JPEGs next to the 28x28 Fashion-MNIST items.
 * A fixed allow-list: the same packages also ship abstract/rendered wallpapers, which are left out on purpose.
 */
import { readFile, stat } from 'node:fs/promises';
import { ErrorType, SeerflowError } from '../../contracts/errors';

export interface PhotoSource {
  /** Stable short name; the corpus id is `photo-<name>`. */
  name: string;
  package: string;
  path: string;
  subject: string;
}

const LOMIRI_16 = 'lomiri-wallpapers-16.04';
const LOMIRI_20 = 'lomiri-wallpapers-20.04';
const PALAPELI = 'palapeli-data';

const BG = '/usr/share/backgrounds/';
const PALAPELI_DIR = '/usr/share/palapeli/collection/';

function photo(name: string, pkg: string, path: string, subject: string): PhotoSource {
  return { name, package: pkg, path, subject };
}

/**
 * Photos only (checked by eye). Left out as abstract or rendered: Fossa, Infinite-Sea, Painting-Colors, umang,
 * analogpattern. Native sizes 1024x681 up to 6028x3391 (20 MP); most are progressive JPEGs.
 */
export const PHOTO_ALLOW_LIST: readonly PhotoSource[] = [
  photo('bridge-cables', LOMIRI_16, BG + 'Bridge_by_Sander_Klootwijk.jpg', 'bridge cables over a beach'),
  photo('dragonfly', LOMIRI_16, BG + 'Dragonfly_by_Bolly.jpg', 'dragonfly on a plant'),
  photo('fig', LOMIRI_16, BG + 'Picture_0B_by_freespace.jpg', 'fig in a red bowl'),
  photo('brushes', LOMIRI_16, BG + 'Picture_1A_by_freespace.jpg', 'paint brushes'),
  photo('drum', LOMIRI_16, BG + 'Wine_by_Jakkub_Mede.jpg', 'drum and table'),
  photo('aitzgorri', LOMIRI_16, BG + 'aitzgorri_by_Aitzol_Berasategi.jpg', 'mountain meadow'),
  photo('bird-lamp', LOMIRI_16, BG + 'free_by_Peter_Nerlich.jpg', 'toy bird under lamps'),
  photo('dogs', LOMIRI_16, BG + 'friends_by_Aitzol_Berasategi.jpg', 'two dogs at a door'),
  photo('clock', LOMIRI_16, BG + 'greentock_by_Peter_Nerlich.jpg', 'wall clock'),
  photo('stream', LOMIRI_16, BG + 'life_by_Aitzol_Berasategi.jpg', 'forest stream'),
  photo('picos-de-europa', LOMIRI_16, BG + 'picosdeeuropa_by_Aitzol_Berasategi.jpg', 'mountains and path'),
  photo('dandelion', LOMIRI_16, BG + 'seeding_by_Clements_Engelhardt.jpg', 'dandelion clocks'),
  photo('sunset', LOMIRI_16, BG + 'sunset_by_Aitzol_Berasategi.jpg', 'sunset over hills'),
  photo('nuthatch', LOMIRI_20, BG + 'Kleiber_by_Lukas_Baubkus.jpg', 'nuthatch on a tree trunk'),
  photo('castle', PALAPELI, PALAPELI_DIR + 'castle-maintenon.jpg', 'castle'),
  photo('cincinnati-bridge', PALAPELI, PALAPELI_DIR + 'cincinnati-bridge.jpg', 'bridge at night'),
  photo('citrus', PALAPELI, PALAPELI_DIR + 'citrus-fruits.jpg', 'citrus slices'),
  photo('honey-bee', PALAPELI, PALAPELI_DIR + 'european-honey-bee.jpg', 'bee on an aster'),
  photo('chameleon', PALAPELI, PALAPELI_DIR + 'panther-chameleon-female.jpg', 'chameleon'),
];

/** The Debian packages the allow-list needs (about 29 MB of .deb downloads together). */
export const PHOTO_PACKAGES: readonly string[] = [...new Set(PHOTO_ALLOW_LIST.map((p) => p.package))];

export interface Photo extends PhotoSource {
  bytes: Buffer;
}

/** Allow-listed photos are absent: their Debian packages are not installed (`DatasetMissing`, never retried). */
export class PhotosMissingError extends SeerflowError {
  constructor(readonly missing: PhotoSource[]) {
    const pkgs = [...new Set(missing.map((m) => m.package))];
    super(
      ErrorType.DatasetMissing,
      `${missing.length} allow-listed photo(s) not found (e.g. ${missing[0]?.path}). Install the Debian package(s) ` +
        `${pkgs.join(', ')} (apt-get install -y ${pkgs.join(' ')}, or run scripts/install-data-packages.sh as root), ` +
        `or seed without photos (--no-photos).`,
      { packages: pkgs, missing: missing.length },
    );
    this.name = 'PhotosMissingError';
  }
}

/** Which allow-listed photos exist on this machine. */
export async function findPhotos(): Promise<{ found: PhotoSource[]; missing: PhotoSource[] }> {
  const found: PhotoSource[] = [];
  const missing: PhotoSource[] = [];
  for (const p of PHOTO_ALLOW_LIST) {
    const ok = await stat(p.path).then(
      (s) => s.isFile() && s.size > 0,
      () => false,
    );
    (ok ? found : missing).push(p);
  }
  return { found, missing };
}

/** Reads every allow-listed photo; throws PhotosMissingError (naming the packages) if any is absent. */
export async function loadPhotos(): Promise<Photo[]> {
  const { found, missing } = await findPhotos();
  if (missing.length > 0) throw new PhotosMissingError(missing);
  return Promise.all(found.map(async (p) => ({ ...p, bytes: await readFile(p.path) })));
}
