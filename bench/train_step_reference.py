"""Plain PyTorch reference for bench/train-step.ts: one SwAV step on the named workloads of the benchmarking method
(forward every crop, Sinkhorn on the 2 large crops, swapped-prediction loss, backward, LARC + SGD step, prototype
normalisation), written the way facebookresearch/swav's main_swav.py does it, with torchvision's RegNet builder.
Also times SwAV's `distributed_sinkhorn` alone (single process).

    python train_step_reference.py --workload W-200MF --threads 1 --warmup 3 --steps 11
    python train_step_reference.py --sinkhorn --threads 1 --warmup 2 --steps 10 [--B 4096 --K 3000]

Prints one JSON line: per-step wall and process-CPU times (ms), images/s, peak RSS, threads, versions.
Synthetic N(0, 1) pixels: data loading is not timed, as on the tfjs side.

As fast as plain PyTorch allows on CPU (docs/training-engine.md, "Speed against PyTorch"): model and crops in
channels_last (NHWC, the tfjs engine's layout; oneDNN's NCHW grouped convolutions and batch norms were 30-40 % of
the step), and LARC + SGD over all tensors at once (torch._foreach_*, no per-tensor host sync). The earlier form
stays measurable: --memory-format contiguous --larc per-tensor.
"""
import argparse
import json
import platform
import resource
import statistics
import threading
import time

import torch
import torch.nn as nn
import torch.nn.functional as F
import torchvision
from torchvision.models.regnet import BlockParams, RegNet

WORKLOADS = {
    # name: (trunk, large crop, small crop, batch, prototypes)
    "W-tiny": ("tiny", 32, 16, 32, 64),
    "W-200MF": ("200mf", 64, 32, 32, 300),
    "W-200MF-96": ("200mf", 96, 48, 16, 300),
}
TRUNKS = {
    "tiny": dict(depth=4, w_0=16, w_a=8.0, w_m=2.0, group_width=8),
    "200mf": dict(depth=13, w_0=24, w_a=36.44, w_m=2.49, group_width=8),
}


class SwavNet(nn.Module):
    """RegNetY trunk (torchvision, stem 32, SE 0.25) + SwAV head (w_last -> 512 -> 128, BN+ReLU) + prototypes."""

    def __init__(self, trunk, prototypes):
        super().__init__()
        params = BlockParams.from_init_params(**TRUNKS[trunk], se_ratio=0.25)
        self.trunk = RegNet(params, stem_width=32)
        width = self.trunk.fc.in_features
        self.trunk.fc = nn.Identity()
        self.projection_head = nn.Sequential(
            nn.Linear(width, 512), nn.BatchNorm1d(512), nn.ReLU(inplace=True), nn.Linear(512, 128)
        )
        self.prototypes = nn.Linear(128, prototypes, bias=False)

    def forward(self, crops):
        # main_swav.py: consecutive crops of one resolution go through the trunk together.
        sizes = torch.tensor([c.shape[-1] for c in crops])
        idx_crops = torch.cumsum(torch.unique_consecutive(sizes, return_counts=True)[1], 0)
        start, outs = 0, []
        for end in idx_crops:
            outs.append(self.trunk(torch.cat(crops[start:end])))
            start = end
        z = F.normalize(self.projection_head(torch.cat(outs)), dim=1, p=2)
        return z, self.prototypes(z)


@torch.no_grad()
def distributed_sinkhorn(out, epsilon, iterations):
    """SwAV's distributed_sinkhorn for one process (world size 1)."""
    Q = torch.exp(out / epsilon).t()
    B = Q.shape[1]
    K = Q.shape[0]
    Q /= torch.sum(Q)
    for _ in range(iterations):
        Q /= torch.sum(Q, dim=1, keepdim=True)
        Q /= K
        Q /= torch.sum(Q, dim=0, keepdim=True)
        Q /= B
    Q *= B
    return Q.t()


class LARC:
    """apex.parallel.LARC with clip=False (what SwAV uses) around SGD: per-parameter trust ratio, weight decay
    folded into the gradient, then the wrapped optimizer's step with its weight decay switched off."""

    def __init__(self, optimizer, trust_coefficient=0.001, eps=1e-8):
        self.optim, self.trust_coefficient, self.eps = optimizer, trust_coefficient, eps

    def zero_grad(self):
        self.optim.zero_grad()

    def step(self):
        weight_decays = [group.get("weight_decay", 0) for group in self.optim.param_groups]
        self._fold()
        for group in self.optim.param_groups:
            group["weight_decay"] = 0
        self.optim.step()
        for i, group in enumerate(self.optim.param_groups):
            group["weight_decay"] = weight_decays[i]

    @torch.no_grad()
    def _fold(self):
        """apex's loop: g = (g + wd p) * trust |p| / (|g| + wd |p| + eps) where |p| != 0 and |g| != 0."""
        for group in self.optim.param_groups:
            weight_decay = group.get("weight_decay", 0)
            for p in group["params"]:
                if p.grad is None:
                    continue
                param_norm = torch.norm(p.data)
                grad_norm = torch.norm(p.grad.data)
                if param_norm != 0 and grad_norm != 0:
                    adaptive_lr = self.trust_coefficient * param_norm / (grad_norm + param_norm * weight_decay + self.eps)
                    p.grad.data += weight_decay * p.data
                    p.grad.data *= adaptive_lr


class LARCForeach(LARC):
    """The same LARC on every tensor of a group at once: stacked norms, the skip rule as a mask, no host sync."""

    @torch.no_grad()
    def _fold(self):
        for group in self.optim.param_groups:
            weight_decay = group.get("weight_decay", 0)
            params = [p for p in group["params"] if p.grad is not None]
            if not params:
                continue
            grads = [p.grad for p in params]
            param_norm = torch.stack(torch._foreach_norm(params))
            grad_norm = torch.stack(torch._foreach_norm(grads))
            ok = (param_norm != 0) & (grad_norm != 0)
            adaptive_lr = torch.where(
                ok, self.trust_coefficient * param_norm / (grad_norm + param_norm * weight_decay + self.eps), 1.0
            )
            torch._foreach_add_(grads, torch._foreach_mul(params, torch.where(ok, weight_decay, 0.0).unbind()))
            torch._foreach_mul_(grads, adaptive_lr.unbind())


def peak_rss_mib():
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


def summary(xs):
    return {"median": round(statistics.median(xs), 1), "min": round(min(xs), 1), "max": round(max(xs), 1)}


def time_steps(step, warmup, steps):
    wall, cpu = [], []
    for i in range(warmup + steps):
        c0, t0 = time.process_time(), time.perf_counter()
        step(i)
        t, c = time.perf_counter() - t0, time.process_time() - c0
        if i >= warmup:
            wall.append(t * 1000)
            cpu.append(c * 1000)
    return wall, cpu


def run_workload(name, warmup, steps, memory_format, larc):
    trunk, big, small, batch, K = WORKLOADS[name]
    torch.manual_seed(0)
    fmt = torch.channels_last if memory_format == "channels_last" else torch.contiguous_format
    model = SwavNet(trunk, K).to(memory_format=fmt)
    model.train()
    foreach = larc == "foreach"
    sgd = torch.optim.SGD(model.parameters(), lr=0.3, momentum=0.9, weight_decay=1e-6, foreach=foreach)
    optimizer = LARCForeach(sgd) if foreach else LARC(sgd)
    gen = torch.Generator().manual_seed(1)
    batches = [
        [torch.randn(batch, 3, big, big, generator=gen).contiguous(memory_format=fmt) for _ in range(2)]
        + [torch.randn(batch, 3, small, small, generator=gen).contiguous(memory_format=fmt) for _ in range(4)]
        for _ in range(2)
    ]
    nmb_crops, crops_for_assign, temperature = 6, [0, 1], 0.1
    last_loss = [float("nan")]

    def step(i):
        # main_swav.py's train loop, without AMP and distribution.
        with torch.no_grad():
            w = model.prototypes.weight.data.clone()
            w = F.normalize(w, dim=1, p=2)
            model.prototypes.weight.copy_(w)
        _, output = model(batches[i % 2])
        loss = 0
        for crop_id in crops_for_assign:
            with torch.no_grad():
                out = output[batch * crop_id: batch * (crop_id + 1)].detach()
                q = distributed_sinkhorn(out, 0.05, 3)[-batch:]
            subloss = 0
            for v in [v for v in range(nmb_crops) if v != crop_id]:
                x = output[batch * v: batch * (v + 1)] / temperature
                subloss -= torch.mean(torch.sum(q * F.log_softmax(x, dim=1), dim=1))
            loss += subloss / (nmb_crops - 1)
        loss /= len(crops_for_assign)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        last_loss[0] = loss.item()

    wall, cpu = time_steps(step, warmup, steps)
    trunk_params = sum(p.numel() for p in model.trunk.parameters() if p.requires_grad)
    widths = [s[0].f.a[0].in_channels for s in model.trunk.trunk_output]  # block input widths, for the record
    return {
        "workload": name,
        "batch": batch,
        "crops": f"2x{big}+4x{small}",
        "prototypes": K,
        "trunk": {
            "stages": [[len(s), s[-1].f.c[0].out_channels] for s in model.trunk.trunk_output],
            "stageInputWidths": widths,
            "params": trunk_params,
        },
        "trainableParams": sum(p.numel() for p in model.parameters() if p.requires_grad),
        "stepMs": summary(wall),
        "cpuMs": summary(cpu),
        "imagesPerSecond": round(batch / statistics.median(wall) * 1000, 1),
        "finalLoss": last_loss[0],
        "memoryFormat": memory_format,
        "larc": larc,
    }


def run_sinkhorn(B, K, warmup, steps):
    gen = torch.Generator().manual_seed(1)
    # cosine-like scores in [-1, 1], as SwAV's normalised features against normalised prototypes give
    scores = torch.rand(B, K, generator=gen) * 2 - 1
    out = [None]

    def step(_):
        out[0] = distributed_sinkhorn(scores, 0.05, 3)

    wall, cpu = time_steps(step, warmup, steps)
    rows = out[0].sum(dim=1)
    return {
        "workload": f"sinkhorn-B{B}-K{K}-it3",
        "stepMs": summary(wall),
        "cpuMs": summary(cpu),
        "rowSumMaxError": float((rows - 1).abs().max()),
    }


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--workload", choices=sorted(WORKLOADS))
    ap.add_argument("--sinkhorn", action="store_true")
    ap.add_argument("--B", type=int, default=4096)
    ap.add_argument("--K", type=int, default=3000)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--steps", type=int, default=11)
    ap.add_argument("--memory-format", choices=["channels_last", "contiguous"], default="channels_last")
    ap.add_argument("--larc", choices=["foreach", "per-tensor"], default="foreach")
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    if a.sinkhorn:
        res = run_sinkhorn(a.B, a.K, a.warmup, a.steps)
    elif a.workload:
        res = run_workload(a.workload, a.warmup, a.steps, a.memory_format, a.larc)
    else:
        ap.error("give --workload or --sinkhorn")
    res.update(
        {
            "implementation": "pytorch",
            "torch": torch.__version__,
            "torchvision": torchvision.__version__,
            "python": platform.python_version(),
            "threads": a.threads,
            "osThreads": threading.active_count(),
            "torchThreads": torch.get_num_threads(),
            "warmup": a.warmup,
            "steps": a.steps,
            "peakRssMiB": peak_rss_mib(),
        }
    )
    print(json.dumps(res))


if __name__ == "__main__":
    main()
