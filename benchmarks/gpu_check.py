#!/usr/bin/env python
"""
One short run that checks and measures the CUDA paths no CPU test reaches, writing a markdown
report and a JSON file:

    python benchmarks/gpu_check.py --output output/gpu_check              # on a GPU, ~5 minutes
    python benchmarks/gpu_check.py --device cpu --quick --output /tmp/gc   # the same code on CPU

1. correctness: every mode x pooling order x dtype (float32; bfloat16 and float16 under
   autocast), forward and backward, against the naive formula in float64 on the same device,
   and the empty-batch and tiny-map shapes;
2. which SDPA kernel ran (from the profiler) for each head width and dtype, against the kernel
   ``softmax_backend`` names; a mismatch is a finding;
3. the block's speed and peak memory, bounded against naive, at res3 and res4 of an 800x1216
   image, forward and forward+backward, float32 and bfloat16;
4. Mask R-CNN R50-FPN, NL against its baseline: training iterations per second (batch 2, AMP on
   and off), inference latency and peak memory at 800x1216;
5. 50 training iterations of the demo config (with AMP on CUDA): every loss finite, then a COCO
   evaluation of the trained model;
6. TorchScript export traced on the device, run, compared with eager.

Each section that fails is reported as failed with its error, and the others still run. The
exit status is 1 when a correctness check or a section failed. ``--quick`` shrinks every size so
that the whole run takes well under a minute on a CPU (the test suite runs it).
"""

import argparse
import json
import math
import os
import platform
import sys
import time
import traceback

import torch
from measure import RANDOM_WEIGHT_OPTS, peak_memory, seconds, timed
from torch.profiler import ProfilerActivity, profile

from nl_detectron.layers import MODES, NonLocalBlock2d
from nl_detectron.layers.nonlocal_ops import (
    fused_backends_accepting,
    softmax_attention,
    softmax_backend,
)

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEMO_CONFIG = os.path.join(REPO_ROOT, "configs", "demo", "mask_rcnn_R50_NL_shapes.yaml")
SUBSAMPLINGS = {
    "none": dict(sub_sample=False),
    "input": dict(sub_sample=True, sub_sample_at="input"),
    "embedding": dict(sub_sample=True, sub_sample_at="embedding"),
}
# Relative error of the block's output (and input gradient) against float64, by autocast dtype.
TOLERANCE = {"float32": 1e-4, "bfloat16": 5e-2, "float16": 1e-2}
DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}
# Feature maps of an 800x1216 image: (channels, height, width).
FEATURE_MAPS = {"res4": (1024, 50, 76), "res3": (512, 100, 152)}
QUICK_MAPS = {"res4": (64, 10, 14), "res3": (32, 20, 28)}


def autocast(device, dtype_name):
    enabled = dtype_name != "float32"
    return torch.autocast(device.type, dtype=DTYPES[dtype_name], enabled=enabled)


def perturbed_block(channels, mode, subsampling, device, impl="bounded", seed=0):
    """A block whose W_z and norm are not zero, so that y reaches the output."""
    torch.manual_seed(seed)
    block = NonLocalBlock2d(channels, mode=mode, impl=impl, norm="GN", **SUBSAMPLINGS[subsampling])
    with torch.no_grad():
        for p in block.parameters():
            p.add_(torch.randn_like(p) * 0.1)
    return block.to(device)


def relative_error(got, expected):
    scale = expected.abs().max().item() or 1.0
    return (got.double() - expected).abs().max().item() / scale


def check_correctness(device, quick):
    """Every mode x subsampling x dtype on (2, C, H, W) and the degenerate shapes."""
    rows = []
    channels = 64  # GN after W_z, 32 groups: 2 channels a group, so a 1x1 map still normalises
    shapes = [(2, channels, 9, 11), (0, channels, 14, 14), (2, channels, 1, 7), (1, channels, 1, 1)]
    for mode in MODES:
        for subsampling in SUBSAMPLINGS:
            block = perturbed_block(channels, mode, subsampling, device)
            reference = perturbed_block(channels, mode, subsampling, device, impl="naive").double()
            for dtype_name in DTYPES:
                if dtype_name == "float16" and device.type == "cpu":
                    continue  # CPU autocast runs bfloat16
                for shape in shapes if dtype_name == "float32" else shapes[:1]:
                    rows.append(
                        _check_one(block, reference, shape, dtype_name, device, mode, subsampling)
                    )
    return rows


def _check_one(block, reference, shape, dtype_name, device, mode, subsampling):
    torch.manual_seed(1)
    x = torch.randn(*shape, device=device)
    x_ref = x.double().requires_grad_()
    x = x.requires_grad_()
    row = dict(mode=mode, subsampling=subsampling, dtype=dtype_name, shape=list(shape))
    try:
        with autocast(device, dtype_name):
            out = block(x)
        weight = torch.randn(out.shape, device=device)
        (out.float() * weight).sum().backward()
        out_ref = reference(x_ref)
        (out_ref * weight.double()).sum().backward()
        finite = bool(torch.isfinite(out).all() and torch.isfinite(x.grad).all())
        errors = (
            (relative_error(out, out_ref), relative_error(x.grad, x_ref.grad))
            if out.numel()
            else (0.0, 0.0)
        )
        row.update(
            output_error=errors[0],
            grad_error=errors[1],
            ok=finite and tuple(out.shape) == tuple(shape) and max(errors) <= TOLERANCE[dtype_name],
        )
    except Exception as e:  # a crash is a finding of this check, not of the run
        row.update(ok=False, error=f"{type(e).__name__}: {e}"[:300])
    return row


def sdpa_kernels_that_ran(fn):
    """The SDPA kernels the profiler saw while ``fn`` ran: flash, efficient, cudnn, math."""
    activities = [ProfilerActivity.CPU]
    with profile(activities=activities) as prof:
        fn()
    names = {event.name for event in prof.events()}
    found = set()
    for name in names:
        for kernel in ("flash", "efficient", "cudnn", "math"):
            if name.startswith("aten::_scaled_dot_product") and kernel in name:
                found.add(kernel)
    if not found and "aten::scaled_dot_product_attention" in names:
        found.add("math")  # the composite path, which records no kernel of its own
    return "+".join(sorted(found)) or "none (chunked or dense)"


def check_backends(device, quick):
    """For each head width and dtype: the kernel softmax_backend names, and the one that ran."""
    rows = []
    length = 64 if quick else 3800
    for width in (32, 256, 512):
        for dtype_name in DTYPES:
            if dtype_name == "float16" and device.type == "cpu":
                continue
            q = torch.randn(2, length, width, device=device)
            k = v = torch.randn(2, length // 4, width, device=device)
            block_inputs = [t.to(DTYPES[dtype_name]) for t in (q, k, v)]
            rule = softmax_backend(*block_inputs)
            try:
                ran = sdpa_kernels_that_ran(lambda t=block_inputs: softmax_attention(*t))
            except Exception as e:
                ran = f"error: {type(e).__name__}: {e}"[:200]
            rows.append(
                dict(
                    head_width=width,
                    dtype=dtype_name,
                    rule=rule,
                    ran=ran,
                    accepted=fused_backends_accepting(*block_inputs),
                    match=rule == ran or (rule in ("chunked", "dense") and ran.startswith("none")),
                )
            )
    return rows


def measure_block(device, quick):
    """Embedded Gaussian, bounded against naive, res3 and res4, fwd and fwd+bwd, fp32 and bf16."""
    rows = []
    maps = QUICK_MAPS if quick else FEATURE_MAPS
    repeats = 2 if quick else 5
    for name, (channels, h, w) in maps.items():
        x = torch.randn(2, channels, h, w, device=device)
        for dtype_name in ("float32", "bfloat16"):
            for pass_ in ("forward", "forward_backward"):
                cell = dict(map=f"{name} ({channels}, {h}x{w})", dtype=dtype_name, pass_=pass_)
                for impl in ("bounded", "naive"):
                    block = perturbed_block(channels, "embedded_gaussian", "input", device, impl)

                    def step(block=block, pass_=pass_, dtype_name=dtype_name, x=x):
                        inp = x.clone().requires_grad_(pass_ == "forward_backward")
                        with torch.set_grad_enabled(pass_ == "forward_backward"):
                            with autocast(device, dtype_name):
                                out = block(inp)
                            if pass_ == "forward_backward":
                                out.float().sum().backward()

                    try:
                        cell[f"{impl}_ms"] = 1000 * timed(step, device, repeats)
                        cell[f"{impl}_peak_mib"] = _mib(peak_memory(step, device))
                    except torch.OutOfMemoryError:
                        cell[f"{impl}_ms"] = cell[f"{impl}_peak_mib"] = "out of memory"
                        torch.cuda.empty_cache()
                rows.append(cell)
    return rows


def _mib(nbytes):
    return None if nbytes is None else nbytes / 2**20


def _model_cfg(nl, device, size, quick):
    """Mask R-CNN R50-FPN (with --quick: the CPU demo's smaller heads), NL or its baseline."""
    from nl_detectron.config import load_config

    if quick:
        config = DEMO_CONFIG
        opts = [] if nl else ["MODEL.BACKBONE.NAME", "build_resnet_fpn_backbone"]
    else:
        name = "mask_rcnn_R50_NL.yaml" if nl else "mask_rcnn_R50.yaml"
        config, opts = os.path.join(REPO_ROOT, "configs", name), []
    # Random weights (measure.RANDOM_WEIGHT_OPTS); the block and the heads are the config's.
    opts += ["MODEL.DEVICE", device.type, *RANDOM_WEIGHT_OPTS]
    opts += ["INPUT.MIN_SIZE_TEST", str(size[0]), "INPUT.MAX_SIZE_TEST", str(size[1])]
    return load_config(config, opts)


def _synthetic_batch(size, device, num_images=2):
    from detectron2.structures import Boxes, Instances

    h, w = size
    generator = torch.Generator().manual_seed(0)
    batch = []
    for _ in range(num_images):
        instances = Instances((h, w))
        boxes = torch.tensor([[0.1, 0.1, 0.4, 0.5], [0.5, 0.3, 0.9, 0.8]]) * torch.tensor(
            [w, h, w, h]
        )
        instances.gt_boxes = Boxes(boxes)
        instances.gt_classes = torch.tensor([0, 2])  # the demo has 3 classes
        from detectron2.structures import BitMasks

        masks = torch.zeros(2, h, w, dtype=torch.bool)
        for i, (x0, y0, x1, y1) in enumerate(boxes.long().tolist()):
            masks[i, y0:y1, x0:x1] = True
        instances.gt_masks = BitMasks(masks)
        image = torch.randint(0, 256, (3, h, w), generator=generator).float()
        batch.append({"image": image.to(device), "instances": instances.to(device)})
    return batch


def measure_model(device, quick):
    """Training it/s (batch 2, AMP off/on), inference latency and peak memory, NL and baseline."""
    size = (96, 128) if quick else (800, 1216)
    warmup, timed_iters = (1, 1) if quick else (5, 20)
    rows = []
    for nl in (False, True):
        rows.append(_measure_one_model(nl, device, size, warmup, timed_iters, quick))
        if device.type == "cuda":
            torch.cuda.empty_cache()
    return rows


def _measure_one_model(nl, device, size, warmup, timed_iters, quick):
    from detectron2.modeling import build_model
    from detectron2.utils.events import EventStorage

    torch.manual_seed(0)
    model = build_model(_model_cfg(nl, device, size, quick))
    optimizer = torch.optim.SGD(model.parameters(), lr=1e-4, momentum=0.9)
    batch = _synthetic_batch(size, device)
    row = dict(model="+1 NL (res4)" if nl else "baseline", size=f"{size[0]}x{size[1]}")
    amp_dtype = torch.float16 if device.type == "cuda" else torch.bfloat16
    # CPU autocast (bfloat16) is emulated on CPUs without bfloat16 units: minutes an iteration.
    for amp in (False, True) if device.type == "cuda" else (False,):
        scaler = torch.amp.GradScaler(device.type, enabled=amp and device.type == "cuda")

        def train_step(amp=amp, scaler=scaler):
            model.train()
            with EventStorage(0), torch.autocast(device.type, amp_dtype, enabled=amp):
                losses = model(batch)
            loss = sum(losses.values())
            optimizer.zero_grad()
            scaler.scale(loss).backward()
            scaler.step(optimizer)
            scaler.update()
            return loss

        for _ in range(warmup):
            train_step()
        if device.type == "cuda":
            torch.cuda.reset_peak_memory_stats()
        losses = []
        elapsed = seconds(
            lambda out=losses, step=train_step: out.extend(step() for _ in range(timed_iters)),
            device,
        )
        loss = losses[-1]
        key = "amp_on" if amp else "amp_off"
        row[f"train_it_per_s_{key}"] = timed_iters / elapsed
        row[f"train_loss_finite_{key}"] = math.isfinite(loss.item())
        if device.type == "cuda":
            row[f"train_peak_mib_{key}"] = _mib(torch.cuda.max_memory_allocated())
    model.eval()
    image = [{"image": batch[0]["image"], "height": size[0], "width": size[1]}]
    with torch.no_grad():
        row["inference_ms"] = 1000 * timed(lambda: model(image), device, timed_iters)
        row["inference_peak_mib"] = _mib(peak_memory(lambda: model(image), device))
    return row


def train_demo(device, quick, output_dir):
    """The demo config trained for 50 iterations (AMP on CUDA), then COCO-evaluated."""
    from detectron2.evaluation import inference_on_dataset

    from nl_detectron.config import load_config
    from nl_detectron.engine import Trainer

    iterations = 2 if quick else 50
    opts = ["MODEL.DEVICE", device.type, "SOLVER.MAX_ITER", str(iterations)]
    opts += ["SOLVER.AMP.ENABLED", str(device.type == "cuda"), "OUTPUT_DIR", output_dir]
    opts += ["SOLVER.CHECKPOINT_PERIOD", "100000", "TEST.EVAL_PERIOD", "0", "DATASETS.TEST", "()"]
    if quick:
        opts += ["INPUT.MIN_SIZE_TRAIN", "(96,)", "INPUT.MAX_SIZE_TRAIN", "96"]
        opts += [
            "INPUT.MIN_SIZE_TEST",
            "96",
            "INPUT.MAX_SIZE_TEST",
            "96",
            "SOLVER.IMS_PER_BATCH",
            "2",
        ]
        opts += ["DATASETS.TRAIN", "('nl_demo_shapes_val',)"]  # no 400-image train split to make
    cfg = load_config(DEMO_CONFIG, opts)
    cfg.freeze()
    trainer = Trainer(cfg)
    trainer.resume_or_load(resume=False)
    trainer.train()
    history = trainer.storage.history("total_loss").values()
    losses = [value for value, _ in history]
    dataset = "nl_demo_shapes_val"
    loader = Trainer.build_test_loader(cfg, dataset)
    if quick:
        loader = [batch for batch, _ in zip(loader, range(4))]
    evaluator = Trainer.build_evaluator(cfg, dataset, output_dir)
    results = inference_on_dataset(trainer.model, loader, evaluator)
    return [
        dict(
            iterations=iterations,
            amp=device.type == "cuda",
            losses_finite=all(math.isfinite(v) for v in losses) and len(losses) > 0,
            last_total_loss=losses[-1] if losses else None,
            bbox_AP=results.get("bbox", {}).get("AP"),
            segm_AP=results.get("segm", {}).get("AP"),
        )
    ]


def check_export(device, quick):
    """The demo model traced on the device; the traced module against eager on two images."""
    from detectron2.export import TracingAdapter
    from detectron2.modeling import build_model

    from nl_detectron.config import load_config
    from nl_detectron.export import _rcnn_inference

    size = 96 if quick else 192
    cfg = load_config(
        DEMO_CONFIG,
        ["MODEL.DEVICE", device.type, "MODEL.ROI_HEADS.SCORE_THRESH_TEST", "0.0"],
    )
    torch.manual_seed(0)
    model = build_model(cfg).eval()
    generator = torch.Generator().manual_seed(0)
    images = [
        torch.randint(0, 256, (3, size, size), generator=generator).float().to(device)
        for _ in range(2)
    ]
    adapter = TracingAdapter(model, [{"image": images[0]}], _rcnn_inference).eval()
    rows = []
    with torch.no_grad():
        traced = torch.jit.trace(adapter, (images[0],))
        for i, image in enumerate(images):
            eager = adapter(image)
            got = traced(image)
            diffs = [
                (a.float() - b.float()).abs().max().item() for a, b in zip(eager, got) if a.numel()
            ]
            rows.append(
                dict(
                    image=i,
                    outputs=len(got),
                    detections=int(eager[0].shape[0]),
                    max_abs_difference=max(diffs) if diffs else 0.0,
                    equal=all(torch.equal(a, b) for a, b in zip(eager, got)),
                )
            )
    return rows


SECTIONS = {
    "correctness": check_correctness,
    "sdpa_backends": check_backends,
    "block": measure_block,
    "model": measure_model,
    "training": None,  # needs the output folder; see main
    "export": check_export,
}


def device_name(device):
    if device.type == "cuda":
        props = torch.cuda.get_device_properties(device)
        return f"{props.name} (capability {props.major}.{props.minor}), torch {torch.__version__}"
    cpu = platform.processor() or "CPU"
    return f"{cpu}, {torch.get_num_threads()} threads, torch {torch.__version__}"


def markdown_table(rows):
    if not rows:
        return "(no rows)\n"
    keys = list(dict.fromkeys(k for row in rows for k in row))
    lines = ["| " + " | ".join(keys) + " |", "|" + "---|" * len(keys)]
    for row in rows:
        lines.append("| " + " | ".join(_cell(row.get(k, "")) for k in keys) + " |")
    return "\n".join(lines) + "\n"


def _cell(value):
    if isinstance(value, float):
        return f"{value:.3g}" if abs(value) < 1e-2 and value else f"{value:,.2f}"
    return str(value).replace("|", "/")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--device", default="cuda", choices=["cuda", "cpu"])
    parser.add_argument("--quick", action="store_true", help="small sizes, for the CPU test")
    parser.add_argument("--output", required=True, help="folder for gpu_check.md and .json")
    parser.add_argument("--sections", nargs="+", choices=list(SECTIONS), default=list(SECTIONS))
    args = parser.parse_args(argv)
    if args.device == "cuda" and not torch.cuda.is_available():
        print("gpu_check: --device cuda, but CUDA is not available here", file=sys.stderr)
        return 2
    device = torch.device(args.device)
    os.makedirs(args.output, exist_ok=True)
    report = dict(device=device_name(device), quick=args.quick, sections={})
    failed = False
    for name in args.sections:
        start = time.perf_counter()
        print(f"[gpu_check] {name} ...", flush=True)
        try:
            if name == "training":
                rows = train_demo(device, args.quick, os.path.join(args.output, "training"))
            else:
                rows = SECTIONS[name](device, args.quick)
            section = dict(rows=rows)
        except Exception as e:
            section = dict(error=f"{type(e).__name__}: {e}", traceback=traceback.format_exc())
        section["seconds"] = time.perf_counter() - start
        report["sections"][name] = section
        bad = "error" in section or any(
            row.get("ok") is False
            or row.get("losses_finite") is False
            or False in (v for k, v in row.items() if k.startswith("train_loss_finite"))
            or row.get("equal") is False
            for row in section.get("rows", [])
        )
        failed = failed or bad
        print(f"[gpu_check] {name}: {'FAILED' if bad else 'done'} in {section['seconds']:.0f} s")
    with open(os.path.join(args.output, "gpu_check.json"), "w") as f:
        json.dump(report, f, indent=1)
    with open(os.path.join(args.output, "gpu_check.md"), "w") as f:
        f.write(f"# GPU check: {report['device']}\n\n")
        f.write(f"Command: python benchmarks/gpu_check.py {' '.join(argv or sys.argv[1:])}\n\n")
        for name, section in report["sections"].items():
            f.write(f"## {name} ({section['seconds']:.0f} s)\n\n")
            f.write(f"FAILED: {section['error']}\n\n" if "error" in section else "")
            f.write(markdown_table(section.get("rows", [])) + "\n")
    print(f"[gpu_check] wrote {args.output}/gpu_check.md and gpu_check.json")
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
