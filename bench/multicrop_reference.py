"""torchvision + Pillow reference for bench/multicrop.ts: SwAV's multi-crop exactly as facebookresearch/swav's
MultiCropDataset builds it (RandomResizedCrop, flip, colour distortion, PIL Gaussian blur, ToTensor, Normalize).

Serve mode (used by the TypeScript bench so both run alternating in one process tree):
    python multicrop_reference.py --corpus DIR --serve
reads one JSON command per line from stdin, e.g. {"workload": "full", "start": 0, "count": 50},
and answers {"seconds": wall, "cpuSeconds": process CPU time, "images": n} on stdout. {"workload": "stats"} returns peak RSS and threads.
"""
import argparse
import io
import json
import os
import random
import resource
import sys
import time

import numpy as np
import torch
import torchvision.transforms as T
from PIL import Image, ImageFilter


class PILRandomGaussianBlur:
    """SwAV's blur: with probability p, Pillow GaussianBlur with radius ~ U(radius_min, radius_max)."""

    def __init__(self, p=0.5, radius_min=0.1, radius_max=2.0):
        self.prob, self.radius_min, self.radius_max = p, radius_min, radius_max

    def __call__(self, img):
        if not np.random.rand() <= self.prob:
            return img
        return img.filter(ImageFilter.GaussianBlur(radius=random.uniform(self.radius_min, self.radius_max)))


def swav_transforms(crops, mean=(0.485, 0.456, 0.406), std=(0.229, 0.224, 0.225), s=1.0):
    trans = []
    for size, count, lo, hi in crops:
        color = T.Compose([
            T.RandomApply([T.ColorJitter(0.8 * s, 0.8 * s, 0.8 * s, 0.2 * s)], p=0.8),
            T.RandomGrayscale(p=0.2),
        ])
        t = T.Compose([
            T.RandomResizedCrop(size, scale=(lo, hi)),
            T.RandomHorizontalFlip(p=0.5),
            color,
            PILRandomGaussianBlur(),
            T.ToTensor(),
            T.Normalize(mean=mean, std=std),
        ])
        trans.extend([t] * count)
    return trans


def threads():
    with open('/proc/self/status') as f:
        for line in f:
            if line.startswith('Threads:'):
                return int(line.split()[1])
    return -1


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--corpus', required=True)
    ap.add_argument('--serve', action='store_true')
    ap.add_argument('--seed', type=int, default=0)
    args = ap.parse_args()
    torch.set_num_threads(1)
    torch.manual_seed(args.seed)
    np.random.seed(args.seed)
    random.seed(args.seed)
    files = sorted(f for f in os.listdir(args.corpus) if f.endswith('.jpg'))
    blobs = [open(os.path.join(args.corpus, f), 'rb').read() for f in files]
    trans = swav_transforms([(224, 2, 0.14, 1.0), (96, 4, 0.05, 0.14)])

    def full(b):
        img = Image.open(io.BytesIO(b)).convert('RGB')
        return [t(img) for t in trans]

    def decode(b):
        return Image.open(io.BytesIO(b)).convert('RGB')

    work = {'full': full, 'decode': decode}
    print(json.dumps({'ready': len(blobs), 'torch': torch.__version__, 'pillow': Image.__version__}), flush=True)
    for line in sys.stdin:
        cmd = json.loads(line)
        if cmd['workload'] == 'stats':
            rss_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
            print(json.dumps({'peakRssMiB': rss_kb / 1024, 'threads': threads()}), flush=True)
            continue
        fn = work[cmd['workload']]
        start, count = cmd['start'], cmd['count']
        t0, c0 = time.perf_counter(), time.process_time()
        for i in range(start, start + count):
            fn(blobs[i % len(blobs)])
        wall, cpu = time.perf_counter() - t0, time.process_time() - c0
        print(json.dumps({'seconds': wall, 'cpuSeconds': cpu, 'images': count}), flush=True)


if __name__ == '__main__':
    main()
