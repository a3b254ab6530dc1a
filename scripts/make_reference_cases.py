"""Development script: Ultralytics 8.4 reference cases for the decode and letterbox tests.

Needs torch, torchvision and ultralytics (never a runtime or CI dependency):
    python scripts/make_reference_cases.py test/data/ultralytics_reference.npz
The tests compare yolo_stereo_trt's letterbox, decode, NMS and scale_boxes against it.
"""
import sys

import cv2
import numpy as np
import torch
import torchvision  # noqa: F401  (Ultralytics uses torchvision.ops.nms when it is imported)
import ultralytics
from ultralytics.data.augment import LetterBox
from ultralytics.utils.nms import non_max_suppression
from ultralytics.utils.ops import scale_boxes


def test_image(h, w):
    """The deterministic BGR test image (the tests build the same one)."""
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float64)
    b = 127.5 + 127.5 * np.sin(xx / 9.0) * np.cos(yy / 13.0)
    g = 255.0 * xx / max(w - 1, 1)
    r = 255.0 * (xx + yy) / max(w + h - 2, 1)
    return np.stack([b, g, r], -1).round().astype(np.uint8)


def anchors(h, w):
    return sum((h // s) * (w // s) for s in (8, 16, 32))


def make_pred(rng, batch, nc, h, w, objects):
    n = anchors(h, w)
    pred = np.zeros((batch, 4 + nc, n), np.float32)
    pred[:, 0] = rng.uniform(0, w, (batch, n))
    pred[:, 1] = rng.uniform(0, h, (batch, n))
    pred[:, 2:4] = rng.uniform(4, 60, (batch, 2, n))
    # Background: a few weak scores (sparse, so that the test data compresses well)
    noise = rng.uniform(0, 1, (batch, nc, n))
    pred[:, 4:] = np.where(noise > 0.97, noise - 0.9, 0)
    for b in range(batch):
        slots = rng.choice(n, size=objects * 12, replace=False).reshape(objects, 12)
        for obj in slots:
            cx, cy = rng.uniform(0, w), rng.uniform(0, h)
            bw, bh = rng.uniform(6, 200), rng.uniform(6, 200)
            cls = rng.integers(nc)
            jitter = rng.normal(0, 0.08, (4, obj.size))
            pred[b, 0, obj] = cx + jitter[0] * bw
            pred[b, 1, obj] = cy + jitter[1] * bh
            pred[b, 2, obj] = bw * (1 + jitter[2])
            pred[b, 3, obj] = bh * (1 + jitter[3])
            pred[b, 4 + cls, obj] = rng.uniform(0.1, 0.98, obj.size)
    return np.round(pred * 64) / 64  # coarse values keep the file small; ties stay improbable


def main(out):
    rng = np.random.default_rng(20261127)
    arrays = {"ultralytics_version": np.array(ultralytics.__version__)}
    cases = [  # (model h, w, nc, [(img h, w) per batch item], conf, iou, agnostic, max_det)
        (640, 640, 5, [(720, 1280), (720, 1280)], 0.25, 0.7, False, 300),
        (640, 640, 5, [(376, 1241), (376, 1241)], 0.25, 0.7, False, 300),
        (384, 640, 5, [(720, 1280), (1080, 1920)], 0.25, 0.7, False, 300),
        (320, 320, 5, [(376, 1241), (481, 643)], 0.4, 0.5, True, 300),
        (640, 640, 5, [(1241, 376), (37, 53)], 0.05, 0.6, False, 20),
        (256, 320, 80, [(480, 640), (333, 777)], 0.25, 0.7, False, 300),
        (640, 640, 1, [(720, 1280), (376, 1241)], 0.3, 0.45, False, 300),
    ]
    for k, (mh, mw, nc, shapes, conf, iou, agn, max_det) in enumerate(cases):
        pred = make_pred(rng, len(shapes), nc, mh, mw, objects=25)
        out_t = non_max_suppression(torch.from_numpy(pred.copy()), conf, iou, agnostic=agn, max_det=max_det)
        arrays[f"raw{k}_pred"] = pred
        arrays[f"raw{k}_params"] = np.array([mh, mw, conf, iou, float(agn), max_det], np.float64)
        arrays[f"raw{k}_shapes"] = np.array(shapes, np.int64)
        for b, det in enumerate(out_t):
            det = det.clone()
            det[:, :4] = scale_boxes((mh, mw), det[:, :4], shapes[b])
            arrays[f"raw{k}_out{b}"] = det.numpy()
    # End-to-end head [B, K, 6]
    k = "e2e"
    pred = np.zeros((2, 300, 6), np.float32)
    xy = rng.uniform(0, 600, (2, 300, 2))
    pred[..., 0:2] = xy
    pred[..., 2:4] = xy + rng.uniform(5, 100, (2, 300, 2))
    pred[..., 4] = -np.sort(-rng.uniform(0, 1, (2, 300)), axis=1)
    pred[..., 5] = rng.integers(0, 5, (2, 300))
    out_t = non_max_suppression(torch.from_numpy(pred.copy()), 0.3, 0.7, max_det=100, end2end=True)
    arrays["e2e_pred"] = pred
    for b, det in enumerate(out_t):
        det = det.clone()
        det[:, :4] = scale_boxes((640, 640), det[:, :4], (720, 1280))
        arrays[f"e2e_out{b}"] = det.numpy()
    # Letterbox + Ultralytics predictor preprocessing of smooth test images
    lb_cases = [((720, 1280), (640, 640)), ((376, 1241), (640, 640)), ((376, 1241), (384, 640)),
                ((37, 53), (320, 320)), ((540, 960), (480, 640)), ((640, 640), (640, 640)),
                ((1241, 376), (320, 256))]
    for i, (src, dst) in enumerate(lb_cases):
        img = test_image(*src)
        lb = LetterBox(dst, auto=False, stride=32)(image=img)
        arrays[f"lb{i}_src_hw"] = np.array(src)
        arrays[f"lb{i}_dst_hw"] = np.array(dst)
        arrays[f"lb{i}_out"] = lb  # BGR uint8 HWC; the predictor then flips to RGB and divides by 255
    arrays["cv2_version"] = np.array(cv2.__version__)
    np.savez_compressed(out, **arrays)
    print(f"wrote {out} with Ultralytics {ultralytics.__version__}, OpenCV {cv2.__version__}")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "test/data/ultralytics_reference.npz")
