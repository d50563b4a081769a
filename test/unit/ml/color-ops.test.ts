import {
  adjustBrightness,
  adjustContrast,
  adjustHue,
  adjustSaturation,
  flipHorizontal,
  gaussianBlur,
  gaussianKernel,
  grayscale,
  hsvToRgb,
  IMAGENET_MEAN,
  IMAGENET_STD,
  normalize,
  referenceView,
  resizedCrop,
  rgbToHsv,
  triangleWeights,
  type RgbImage,
} from '../../../ml/color-ops';
import { drawMulticropParams } from '../../../ml/multicrop-params';
import { Rng } from '../../../ml/rng';

/*
 * Golden values from torchvision 0.29.2 (tensor ops, float32) and Pillow 13.0 (mode 'F' resize), produced with:
 *   a = np.asarray(Image.open('photo-500x375.jpg').convert('RGB'))[10::120, 20::130][:3, :4]   # a real photo
 *   t = torch.tensor(a, dtype=torch.float32).permute(2, 0, 1) / 255
 *   F.adjust_brightness(t, 1.37), F.adjust_contrast(t, 0.41), ..., F.rgb_to_grayscale(t, 3)
 *   g = (np.arange(35, dtype=np.float32).reshape(5, 7) ** 1.5) % 17
 *   Image.fromarray(g, 'F').crop((1, 0, 6, 4)).resize((3, 2), Image.BILINEAR)   # and (9, 7), (2, 6)
 * torchvision's grayscale uses 0.2989 for red where Pillow (and ml/color-ops) use 0.299: ops that take a luma
 * differ by <= 1e-4 * R, hence the 2e-4 tolerance on them; the others agree to float32 rounding.
 */
const PATCH = [
  68, 19, 49, 94, 27, 70, 81, 24, 59, 91, 30, 72, 67, 18, 47, 115, 36, 57, 173, 55, 89, 135, 51, 100, 73, 22, 53, 128,
  38, 63, 177, 54, 72, 121, 45, 83,
];
const BRIGHT_1_37 = [
  0.3653333, 0.1020784, 0.2632549, 0.5050196, 0.1450588, 0.3760785, 0.4351765, 0.1289412, 0.3169804, 0.488902,
  0.1611765, 0.3868235, 0.3599608, 0.0967059, 0.2525098, 0.6178432, 0.1934118, 0.3062353, 0.929451, 0.2954902,
  0.4781569, 0.7252942, 0.274, 0.5372549, 0.3921961, 0.1181961, 0.2847451, 0.6876863, 0.2041569, 0.3384706, 0.9509412,
  0.2901177, 0.3868235, 0.6500784, 0.2417647, 0.4459216,
];
const CONTRAST_0_41 = [
  0.2508936, 0.1721092, 0.2203445, 0.2926975, 0.184972, 0.2541093, 0.2717955, 0.1801485, 0.236423, 0.287874, 0.1897955,
  0.2573249, 0.2492857, 0.1705014, 0.2171289, 0.3264622, 0.1994426, 0.2332073, 0.4197171, 0.2299916, 0.2846583,
  0.3586191, 0.2235602, 0.3023446, 0.2589328, 0.1769328, 0.2267759, 0.3473642, 0.2026583, 0.2428543, 0.4261485,
  0.2283837, 0.2573249, 0.3361093, 0.2139132, 0.2750112,
];
const CONTRAST_1_8 = [
  0.2880539, 0.0, 0.1539363, 0.4715833, 0.0, 0.3021716, 0.3798186, 0.0, 0.2245245, 0.4504068, 0.0198186, 0.3162892,
  0.2809951, 0.0, 0.1398186, 0.6198186, 0.0621716, 0.2104069, 1.0, 0.1962892, 0.4362892, 0.7609951, 0.1680539,
  0.5139363, 0.323348, 0.0, 0.1821716, 0.7115834, 0.0762892, 0.2527598, 1.0, 0.1892304, 0.3162892, 0.6621715, 0.125701,
  0.3939363,
];
const SAT_1_63 = [
  0.3430963, 0.0298806, 0.2216453, 0.472576, 0.0443015, 0.3191642, 0.4065267, 0.0421738, 0.2658992, 0.4507008,
  0.0607793, 0.3292499, 0.3394561, 0.0262404, 0.211613, 0.5819129, 0.0769325, 0.2111678, 0.8732603, 0.1189857, 0.336319,
  0.6611226, 0.1241813, 0.4373971, 0.3658875, 0.0398875, 0.2380444, 0.6508207, 0.0755265, 0.2353304, 0.9021133,
  0.115878, 0.2309368, 0.5954602, 0.1096563, 0.3525583,
];
const SAT_0_2 = [
  0.1696132, 0.1311818, 0.1547112, 0.2366293, 0.1840803, 0.2178058, 0.204784, 0.1600781, 0.1875291, 0.2377032,
  0.1898601, 0.2228013, 0.1653343, 0.1269029, 0.149648, 0.2847169, 0.2227561, 0.2392267, 0.4310297, 0.3384807,
  0.3651473, 0.36216, 0.2962776, 0.334709, 0.1851787, 0.1451787, 0.1694924, 0.3129324, 0.2423442, 0.261952, 0.4299963,
  0.3335257, 0.3476433, 0.320922, 0.2613142, 0.2911181,
];
const HUE_0_17 = [
  0.2666667, 0.1528627, 0.0745098, 0.3686275, 0.2052548, 0.1058823, 0.3176471, 0.1848627, 0.0941176, 0.3568628,
  0.1969411, 0.1176471, 0.2627451, 0.1528628, 0.0705882, 0.4509804, 0.3748235, 0.1411765, 0.6784314, 0.5543528,
  0.2156863, 0.5294118, 0.3438431, 0.2, 0.2862745, 0.1687059, 0.0862745, 0.5019608, 0.4109804, 0.1490196, 0.6941177,
  0.6331764, 0.2117647, 0.4745098, 0.3314511, 0.1764706,
];
const HUE_M0_2 = [
  0.1105882, 0.0745098, 0.2666667, 0.147451, 0.1058823, 0.3686275, 0.1356863, 0.0941176, 0.3176471, 0.1443137,
  0.1176471, 0.3568628, 0.1105882, 0.0705882, 0.2627451, 0.3066667, 0.1411765, 0.4509804, 0.452549, 0.2156863,
  0.6784314, 0.2713726, 0.2, 0.5294118, 0.1247059, 0.0862745, 0.2862745, 0.3333334, 0.1490196, 0.5019608, 0.527059,
  0.2117647, 0.6941177, 0.2658824, 0.1764706, 0.4745098,
];
const GRAY = [
  0.1453498, 0.1453498, 0.1453498, 0.2036298, 0.2036298, 0.2036298, 0.1765682, 0.1765682, 0.1765682, 0.2079133,
  0.2079133, 0.2079133, 0.1409816, 0.1409816, 0.1409816, 0.243151, 0.243151, 0.243151, 0.3691792, 0.3691792, 0.3691792,
  0.3203471, 0.3203471, 0.3203471, 0.1599047, 0.1599047, 0.1599047, 0.2656753, 0.2656753, 0.2656753, 0.3639659,
  0.3639659, 0.3639659, 0.2825251, 0.2825251, 0.2825251,
];
const PILSRC = [
  0.0, 1.0, 2.8284270763397217, 5.196152687072754, 8.0, 11.180339813232422, 14.696938514709473, 1.5202579498291016,
  5.627416610717773, 10.0, 14.62277603149414, 2.4828720092773438, 7.569221496582031, 12.87216567993164,
  1.3832015991210938, 7.094749450683594, 13.0, 2.0927963256835938, 8.367530822753906, 14.819076538085938,
  4.442718505859375, 11.234092712402344, 1.18914794921875, 8.304122924804688, 15.575508117675781, 6.0,
  // eslint-disable-next-line no-loss-of-precision -- float32 values exactly as PIL printed them
  13.574508666992188, 4.296112060546875, 12.162063598632812, 3.169769287109375, 11.316757202148438, 2.6007080078125,
  11.019332885742188, 2.5705718994140625, 11.252365112304688,
];
const PIL_DOWN_3x2 = [
  5.354360103607178, 7.783339977264404, 8.23917007446289, 7.013339996337891, 9.160860061645508, 10.362369537353516,
];
const PIL_UP_9x7 = [
  1.0, 1.6094800233840942, 2.625269889831543, 3.8807499408721924, 5.196149826049805, 6.753849983215332,
  8.35336971282959, 10.120229721069336, 11.180339813232422, 2.6526501178741455, 3.565000057220459, 5.08558988571167,
  6.7999701499938965, 8.562800407409668, 7.15546989440918, 6.458600044250488, 8.603639602661133, 9.890649795532227,
  5.296889781951904, 6.693840026855469, 9.022089958190918, 11.470720291137695, 13.94944953918457, 7.798059940338135,
  3.4269800186157227, 6.177090167999268, 7.827159881591797, 6.361080169677734, 8.074060440063477, 10.929010391235352,
  10.103460311889648, 8.357789993286133, 6.728569984436035, 6.066199779510498, 9.271169662475586, 11.1941499710083,
  6.672920227050781, 8.670140266418457, 11.99884033203125, 8.39402961730957, 3.055850028991699, 5.912829875946045,
  8.924169540405273, 12.552929878234863, 14.730179786682129, 3.2982900142669678, 5.52593994140625, 9.238670349121094,
  10.327460289001465, 10.760250091552734, 8.585419654846191, 7.642600059509277, 11.627849578857422, 14.019000053405762,
  1.1891499757766724, 3.560810089111328, 7.5135698318481445, 11.535849571228027, 15.575510025024414, 10.255780220031738,
  6.841609954833984, 11.049670219421387, 13.574509620666504,
];
const PIL_MIX_2x6 = [
  3.019850015640259, 8.139619827270508, 6.168759822845459, 7.670810222625732, 9.169989585876465, 7.5358099937438965,
  8.579259872436523, 8.870989799499512, 8.009849548339844, 9.947919845581055, 7.588119983673096, 10.691060066223145,
];

function patchImage(): RgbImage {
  return { width: 4, height: 3, data: Float32Array.from(PATCH, (v) => v / 255) };
}

function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  expect(a.length).toBe(b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs((a[i] as number) - (b[i] as number)));
  return m;
}

describe('colour jitter ops against torchvision golden values', () => {
  const img = patchImage();
  it.each([
    ['brightness 1.37', () => adjustBrightness(img, 1.37), BRIGHT_1_37, 1e-6],
    ['contrast 0.41', () => adjustContrast(img, 0.41), CONTRAST_0_41, 2e-4],
    ['contrast 1.8', () => adjustContrast(img, 1.8), CONTRAST_1_8, 2e-4],
    ['saturation 1.63', () => adjustSaturation(img, 1.63), SAT_1_63, 2e-4],
    ['saturation 0.2', () => adjustSaturation(img, 0.2), SAT_0_2, 2e-4],
    ['hue +0.17', () => adjustHue(img, 0.17), HUE_0_17, 2e-6],
    ['hue -0.2', () => adjustHue(img, -0.2), HUE_M0_2, 2e-6],
    ['grayscale', () => grayscale(img), GRAY, 2e-4],
  ] as [string, () => RgbImage, number[], number][])('%s', (_name, run, golden, tol) => {
    expect(maxAbsDiff(run().data, golden)).toBeLessThanOrEqual(tol);
  });

  it('clamps every op to [0, 1]', () => {
    for (const out of [adjustBrightness(img, 5), adjustContrast(img, 4), adjustSaturation(img, 6)]) {
      for (const v of out.data) {
        expect(v).toBeGreaterThanOrEqual(0);
        expect(v).toBeLessThanOrEqual(1);
      }
    }
  });
});

describe('HSV', () => {
  it('round-trips and rotates primaries', () => {
    const rng = Rng.keyed(4);
    let worst = 0;
    for (let i = 0; i < 2000; i++) {
      const [r, g, b] = [rng.next(), rng.next(), rng.next()];
      const [h, s, v] = rgbToHsv(r, g, b);
      const back = hsvToRgb(h, s, v);
      worst = Math.max(worst, Math.abs(back[0] - r), Math.abs(back[1] - g), Math.abs(back[2] - b));
    }
    expect(worst).toBeLessThan(1e-12);
    const red: RgbImage = { width: 1, height: 1, data: Float32Array.of(1, 0, 0) };
    expect(maxAbsDiff(adjustHue(red, 1 / 3).data, [0, 1, 0])).toBeLessThan(1e-6);
    expect(maxAbsDiff(adjustHue(red, -1 / 3).data, [0, 0, 1])).toBeLessThan(1e-6);
    const grey: RgbImage = { width: 1, height: 1, data: Float32Array.of(0.3, 0.3, 0.3) };
    expect(Array.from(adjustHue(grey, 0.2).data)).toEqual(Array.from(grey.data));
  });

  it('hue shift by +h then -h is the identity', () => {
    const img = patchImage();
    expect(maxAbsDiff(adjustHue(adjustHue(img, 0.13), -0.13).data, img.data)).toBeLessThan(1e-6);
    expect(maxAbsDiff(adjustHue(img, 0).data, img.data)).toBeLessThan(1e-7);
    expect(() => adjustHue(img, 0.6)).toThrow(RangeError);
  });
});

describe('Gaussian blur', () => {
  it('uses a normalised kernel and equals a direct 2-D convolution with replicated edges', () => {
    const k = gaussianKernel(1.3);
    expect(k.reduce((a, b) => a + b, 0)).toBeCloseTo(1, 12);
    const img = patchImage();
    const sigma = 0.9;
    const out = gaussianBlur(img, sigma);
    const r = (k.length - 1) / 2;
    const k2 = gaussianKernel(sigma);
    const r2 = (k2.length - 1) / 2;
    expect(r).toBeGreaterThan(0);
    let worst = 0;
    for (let y = 0; y < img.height; y++) {
      for (let x = 0; x < img.width; x++) {
        for (let c = 0; c < 3; c++) {
          let acc = 0;
          for (let dy = -r2; dy <= r2; dy++) {
            for (let dx = -r2; dx <= r2; dx++) {
              const yy = Math.min(img.height - 1, Math.max(0, y + dy));
              const xx = Math.min(img.width - 1, Math.max(0, x + dx));
              acc += k2[dy + r2]! * k2[dx + r2]! * img.data[(yy * img.width + xx) * 3 + c]!;
            }
          }
          worst = Math.max(worst, Math.abs(acc - out.data[(y * img.width + x) * 3 + c]!));
        }
      }
    }
    expect(worst).toBeLessThan(1e-6);
  });

  it('leaves a constant image unchanged and rejects sigma <= 0', () => {
    const flat: RgbImage = { width: 5, height: 4, data: new Float32Array(60).fill(0.25) };
    expect(maxAbsDiff(gaussianBlur(flat, 2).data, flat.data)).toBeLessThan(1e-7);
    expect(() => gaussianKernel(0)).toThrow(RangeError);
  });
});

describe('resizedCrop (Pillow antialiased bilinear)', () => {
  const src = PILSRC.flatMap((v) => [v, 2 * v, 17 - v]);
  const box = { left: 1, top: 0, width: 5, height: 4 };
  it.each([
    ['downscale 5x4 -> 3x2', 3, 2, PIL_DOWN_3x2],
    ['upscale 5x4 -> 9x7', 9, 7, PIL_UP_9x7],
    ['mixed 5x4 -> 2x6', 2, 6, PIL_MIX_2x6],
  ] as [string, number, number, number[]][])('%s matches Pillow', (_n, w, h, golden) => {
    const out = resizedCrop(src, 7, 5, box, w, h, 1);
    const [r, g, b] = [0, 1, 2].map((c) => Array.from({ length: w * h }, (_, p) => out.data[p * 3 + c]!));
    expect(maxAbsDiff(r!, golden)).toBeLessThan(2e-5);
    expect(
      maxAbsDiff(
        g!,
        golden.map((v) => 2 * v),
      ),
    ).toBeLessThan(4e-5);
    expect(
      maxAbsDiff(
        b!,
        golden.map((v) => 17 - v),
      ),
    ).toBeLessThan(4e-5);
  });

  it('has weights that sum to one and an identity at scale 1', () => {
    for (const [i, o] of [
      [10, 3],
      [3, 10],
      [7, 7],
    ] as [number, number][]) {
      for (const row of triangleWeights(i, o)) expect(row.weights.reduce((a, b) => a + b, 0)).toBeCloseTo(1, 12);
    }
    const id = resizedCrop(src, 7, 5, { left: 0, top: 0, width: 7, height: 5 }, 7, 5, 1);
    expect(maxAbsDiff(id.data, src)).toBeLessThan(1e-5);
    expect(() => resizedCrop(src, 7, 5, { left: 3, top: 0, width: 5, height: 4 }, 2, 2)).toThrow(RangeError);
  });
});

describe('flip, normalise and the whole reference view', () => {
  it('flips and normalises per channel', () => {
    const img = patchImage();
    const f = flipHorizontal(img);
    expect(Array.from(f.data.subarray(0, 3))).toEqual(Array.from(img.data.subarray(9, 12)));
    expect(maxAbsDiff(flipHorizontal(f).data, img.data)).toBe(0);
    const n = normalize(img);
    for (let i = 0; i < img.data.length; i++) {
      const c = i % 3;
      expect(n.data[i]).toBeCloseTo((img.data[i]! - IMAGENET_MEAN[c]!) / IMAGENET_STD[c]!, 6);
    }
  });

  it('composes the ops in torchvision order', () => {
    const src = Uint8Array.from({ length: 40 * 30 * 3 }, (_, i) => (i * 37 + (i % 7) * 11) % 256);
    const [view] = drawMulticropParams(40, 30, [{ size: 16, count: 1, minScale: 0.3, maxScale: 1 }], Rng.keyed(3));
    const v = {
      ...view!,
      flip: true,
      grayscale: true,
      blurSigma: 0.7,
      jitter: {
        brightness: 1.2,
        contrast: 0.8,
        saturation: 1.5,
        hue: 0.1,
        order: ['hue', 'contrast', 'brightness', 'saturation'] as const,
      },
    };
    let img = resizedCrop(src, 40, 30, v.crop, 16, 16);
    img = flipHorizontal(img);
    img = adjustHue(img, 0.1);
    img = adjustContrast(img, 0.8);
    img = adjustBrightness(img, 1.2);
    img = adjustSaturation(img, 1.5);
    img = grayscale(img);
    img = gaussianBlur(img, 0.7);
    img = normalize(img);
    expect(maxAbsDiff(referenceView(src, 40, 30, v).data, img.data)).toBe(0);
  });
});
