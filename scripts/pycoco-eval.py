#!/usr/bin/env python3
"""Reference COCO box metrics from pycocotools, used by the tests as the oracle for ml/coco-eval.ts.

Usage: pycoco-eval.py [--full] GT.json DETECTIONS.json [GT2.json DETECTIONS2.json ...]
For each pair, prints one JSON line on stdout: {"stats": [12 floats]}; with --full also the accumulated precision
and recall arrays (flattened in C order), the thresholds and the image/category ids. Several pairs share one
interpreter start. A pair that pycocotools rejects prints {"error": "..."} and the exit status becomes 1.
pycocotools' own prints go to stderr.
"""
import contextlib
import copy
import json
import sys


def evaluate(gt_path, dt_path, full):
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    with contextlib.redirect_stdout(sys.stderr):
        coco_gt = COCO(gt_path)
        with open(dt_path, encoding='utf-8') as f:
            dets = json.load(f)
        if dets:
            coco_dt = coco_gt.loadRes(dets)
        else:
            # loadRes cannot take an empty list (it inspects the first entry); no results = a set with no annotations.
            coco_dt = COCO()
            coco_dt.dataset = {
                'images': list(coco_gt.dataset.get('images', [])),
                'categories': copy.deepcopy(coco_gt.dataset.get('categories', [])),
                'annotations': [],
            }
            coco_dt.createIndex()
        ev = COCOeval(coco_gt, coco_dt, 'bbox')
        ev.evaluate()
        ev.accumulate()
        ev.summarize()

    out = {'stats': [float(x) for x in ev.stats]}
    if full:
        p = ev.params
        out.update(
            precision=ev.eval['precision'].ravel().tolist(),
            recall=ev.eval['recall'].ravel().tolist(),
            counts=[int(c) for c in ev.eval['counts']],
            iouThrs=[float(x) for x in p.iouThrs],
            recThrs=[float(x) for x in p.recThrs],
            imgIds=[int(x) for x in p.imgIds],
            catIds=[int(x) for x in p.catIds],
        )
    return out


def main(argv):
    full = '--full' in argv
    paths = [a for a in argv if a != '--full']
    if not paths or len(paths) % 2:
        print('usage: pycoco-eval.py [--full] GT.json DETECTIONS.json [GT2.json DETECTIONS2.json ...]', file=sys.stderr)
        return 2
    try:
        import pycocotools.cocoeval  # noqa: F401
    except ImportError as err:
        print(f'pycocotools is not importable ({err}); install scripts/requirements-test.txt', file=sys.stderr)
        return 3

    status = 0
    for gt_path, dt_path in zip(paths[0::2], paths[1::2]):
        try:
            out = evaluate(gt_path, dt_path, full)
        except Exception as err:  # report per pair so one bad fixture does not hide the others
            out = {'error': f'{type(err).__name__}: {err}'}
            status = 1
        json.dump(out, sys.stdout)
        sys.stdout.write('\n')
    return status


if __name__ == '__main__':
    sys.exit(main(sys.argv[1:]))
