"""
Training and evaluation with 2 processes on the CPU (gloo), through ``tools/train_net.py
--num-gpus 2`` as a user runs it, on detectron2 v0.6 (whose own launch needs CUDA) and main.
"""

import glob
import json
import math
import os
import signal
import subprocess
import sys
import time

import pytest
import torch

from detectron2.engine.launch import _find_free_port
from detectron2.modeling import build_model
from detectron2.structures import BitMasks, Boxes, Instances, Keypoints
from detectron2.utils.events import EventStorage

from nl_detectron.config import load_config
from nl_detectron.engine import Trainer, argument_parser, launch, setup
from nl_detectron.engine.trainer import check_norms_fit_processes
from tests.helpers import (
    DEMO_CONFIG,
    LAZY_DEMO,
    REPO_ROOT,
    SMALL_IMAGES,
    SMALL_LAZY,
    SMALL_TRAINING,
    command_line,
)

# The NL configs, and the family's R50 and demo configs (R101 has the same blocks).
NL_CONFIGS = sorted(
    {
        path
        for pattern in (
            "*_NL*.yaml",
            "*R50_SNL*.yaml",
            "*R50_GC*.yaml",
            "*R50_DNL*.yaml",
            "*R18_*.yaml",
        )
        for path in glob.glob(os.path.join(REPO_ROOT, "configs", "**", pattern), recursive=True)
        if "_3x" not in path  # the 1x model (test_configs: they differ only in SOLVER)
    }
)

MAX_ITER = 6
OPTS = command_line(
    SMALL_TRAINING,
    {
        "DATASETS.TEST": "()",
        "SOLVER.IMS_PER_BATCH": 4,  # 2 images per process
        "SOLVER.MAX_ITER": MAX_ITER,
        "SOLVER.CHECKPOINT_PERIOD": 2,
        "INPUT.RANDOM_FLIP": "horizontal",
        "SEED": 7,
    },
)
EVAL_OPTS = command_line(
    SMALL_TRAINING,
    {"DATASETS.TEST": "('nl_demo_shapes_val',)", "MODEL.ROI_HEADS.SCORE_THRESH_TEST": 0.0},
)


# One thread per process, as torchrun sets (OMP_NUM_THREADS=1): the float sums, and so the
# weights, depend on the thread count, and the launchers' runs are compared bitwise.
ENV = dict(os.environ, OMP_NUM_THREADS="1")
TRAIN_NET = os.path.join(REPO_ROOT, "tools", "train_net.py")


def train_net(output_dir, *args, opts=OPTS, num_processes=2, launcher=(), **popen):
    """
    ``tools/train_net.py`` on the demo config with ``opts``; by ``--num-gpus num_processes``, or
    under ``launcher`` (a torchrun command line) when given.
    """
    processes = [] if launcher else ["--num-gpus", str(num_processes), "--dist-url", "auto"]
    command = [
        *(launcher or [sys.executable]),
        TRAIN_NET,
        "--config-file",
        DEMO_CONFIG,
        *processes,
        *args,
        *opts,
        "OUTPUT_DIR",
        str(output_dir),
    ]
    if popen:
        return subprocess.Popen(command, env=ENV, **popen)
    result = subprocess.run(command, capture_output=True, text=True, env=ENV)
    assert result.returncode == 0, result.stderr[-3000:]
    return result


def metrics(output_dir):
    with open(os.path.join(output_dir, "metrics.json")) as f:
        return [json.loads(line) for line in f]


def final_weights(output_dir):
    return torch.load(os.path.join(output_dir, "model_final.pth"), weights_only=True)["model"]


def assert_same_weights(expected, got):
    assert expected.keys() == got.keys()
    different = [k for k in expected if not torch.equal(expected[k], got[k])]
    assert not different, f"differing: {different[:5]}"


@pytest.fixture(scope="module")
def two_process_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("two_processes")
    train_net(out)
    return out


@pytest.mark.slow
def test_two_process_training_writes_each_file_once_with_finite_losses(two_process_run):
    rows = [r for r in metrics(two_process_run) if "total_loss" in r]
    iterations = [r["iteration"] for r in rows]
    assert len(set(iterations)) == len(iterations) and iterations[-1] == MAX_ITER - 1  # 1 writer
    assert all(math.isfinite(r["total_loss"]) for r in rows)
    checkpoints = sorted(p.name for p in two_process_run.glob("*.pth"))
    assert checkpoints == [f"model_{i:07d}.pth" for i in (1, 3, 5)] + ["model_final.pth"]
    assert (two_process_run / "last_checkpoint").read_text() == "model_final.pth"
    assert not list(two_process_run.glob("*.tmp*"))
    # Each checkpoint holds both ranks' random states, and they differ.
    ranks = torch.load(two_process_run / "model_0000003.pth", weights_only=True)["trainer"][
        "hooks"
    ]["RandomStateHook"]["ranks"]
    assert len(ranks) == 2 and not torch.equal(ranks[0]["torch"], ranks[1]["torch"])


TORCHRUN = [sys.executable, "-m", "torch.distributed.run"]


@pytest.mark.slow
def test_torchrun_trains_as_num_gpus_does(two_process_run, tmp_path):
    """The same seed gives the same two-process training, by either launcher: every
    iteration's loss and the final weights, bit for bit."""
    result = train_net(tmp_path, launcher=[*TORCHRUN, "--standalone", "--nproc_per_node", "2"])
    assert "Rank of current process: 0. World size: 2" in result.stdout + result.stderr
    rows = [r for r in metrics(tmp_path) if "total_loss" in r]
    assert [r["iteration"] for r in rows][-1] == MAX_ITER - 1  # one writer, one training
    losses = [[r.get("total_loss") for r in metrics(out)] for out in (two_process_run, tmp_path)]
    assert losses[0] == losses[1]
    assert_same_weights(final_weights(two_process_run), final_weights(tmp_path))


@pytest.mark.slow
def test_two_machines_on_loopback_train_as_one_machine_does(two_process_run, tmp_path):
    """Two "machines" of one process each, by --num-machines and by torchrun --nnodes."""
    machines = {
        "num_machines": lambda rank, port: (
            [sys.executable],
            ["--num-machines", "2", "--machine-rank", str(rank), "--num-gpus", "1",
             "--dist-url", f"tcp://127.0.0.1:{port}"],
        ),
        "torchrun": lambda rank, port: (
            [*TORCHRUN, "--nnodes", "2", "--node_rank", str(rank), "--nproc_per_node", "1",
             "--master_addr", "127.0.0.1", "--master_port", str(port)],
            [],
        ),
    }  # fmt: skip
    for name, command in machines.items():
        port = _find_free_port()
        out = tmp_path / name
        processes = []
        for rank in (0, 1):
            launcher, args = command(rank, port)
            processes.append(
                subprocess.Popen(
                    [*launcher, TRAIN_NET, "--config-file", DEMO_CONFIG, *args, *OPTS,
                     "OUTPUT_DIR", str(out)],
                    env=ENV, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                )
            )  # fmt: skip
        outputs = [p.communicate(timeout=600)[0] for p in processes]
        assert [p.returncode for p in processes] == [0, 0], outputs[0][-2000:] + outputs[1][-2000:]
        assert_same_weights(final_weights(two_process_run), final_weights(out))


def test_num_gpus_under_a_launcher_is_refused_naming_both(tmp_path):
    env = dict(ENV, RANK="0", WORLD_SIZE="2", LOCAL_RANK="0", MASTER_ADDR="127.0.0.1")
    env["MASTER_PORT"] = str(_find_free_port())
    result = subprocess.run(
        [sys.executable, TRAIN_NET, "--config-file", DEMO_CONFIG, "--num-gpus", "2", *OPTS,
         "OUTPUT_DIR", str(tmp_path)],
        capture_output=True, text=True, env=env,
    )  # fmt: skip
    assert result.returncode == 2
    assert "rank 0 of 2; --num-gpus 2 --num-machines 1 would start more" in result.stderr
    assert not (tmp_path / "model_final.pth").exists()


def _children(pid):
    with open(f"/proc/{pid}/task/{pid}/children") as f:
        return [int(p) for p in f.read().split()]


@pytest.mark.slow
def test_torchrun_restarts_a_lost_worker_and_resumes_to_the_same_weights(two_process_run, tmp_path):
    """SIGKILL one worker mid-training: torchrun --max-restarts 1 restarts the group, which
    resumes from its last checkpoint with no flag added, and ends with the uninterrupted
    weights."""
    agent = train_net(
        tmp_path,
        launcher=[*TORCHRUN, "--standalone", "--nproc_per_node", "2", "--max-restarts", "1"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    tag = tmp_path / "last_checkpoint"
    deadline = time.time() + 300
    while not (tag.exists() and tag.read_text() >= "model_0000003.pth"):
        assert agent.poll() is None and time.time() < deadline, "training ended too early"
        time.sleep(0.05)
    workers = _children(agent.pid)
    assert len(workers) == 2, workers
    os.kill(workers[1], signal.SIGKILL)
    output = agent.communicate(timeout=600)[0]
    assert agent.returncode == 0, output[-3000:]
    assert "torchrun restart 1: resuming from the last checkpoint" in output
    assert_same_weights(final_weights(two_process_run), final_weights(tmp_path))


@pytest.mark.slow
def test_a_lost_worker_stops_the_others_at_once_naming_its_rank(tmp_path):
    launcher = train_net(
        tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    tag = tmp_path / "last_checkpoint"
    deadline = time.time() + 300
    while not tag.exists():
        assert launcher.poll() is None and time.time() < deadline, "training ended too early"
        time.sleep(0.05)
    workers = [int(line.split()[0]) for line in _worker_lines(launcher.pid)]
    os.kill(workers[1], signal.SIGKILL)
    killed = time.time()
    output = launcher.communicate(timeout=120)[0]
    assert time.time() - killed < 60  # not the process group's 30-minute timeout
    assert launcher.returncode == 1
    assert (
        f"training process 1 of this machine (rank 1, pid {workers[1]}) was killed by SIGKILL"
        in output
    )


@pytest.mark.slow
def test_a_machine_that_never_comes_is_waited_for_ddp_timeout_minutes(tmp_path):
    """Machine 0 of 2 alone, with DDP.TIMEOUT_MINUTES 0.1: it fails after 6 seconds of waiting,
    saying so, instead of torch's 30 minutes."""
    started = time.time()
    result = subprocess.run(
        [sys.executable, TRAIN_NET, "--config-file", DEMO_CONFIG, "--num-machines", "2",
         "--machine-rank", "0", "--num-gpus", "1", "--dist-url",
         f"tcp://127.0.0.1:{_find_free_port()}", *OPTS, "DDP.TIMEOUT_MINUTES", "0.1",
         "OUTPUT_DIR", str(tmp_path)],
        capture_output=True, text=True, env=ENV, timeout=300,
    )  # fmt: skip
    assert result.returncode != 0
    assert "1/2 clients joined" in result.stderr, result.stderr[-2000:]
    assert time.time() - started < 120


def _worker_lines(pid):
    """``pid command`` of the training workers that ``pid`` spawned (not its helper processes)."""
    lines = []
    for child in _children(pid):
        with open(f"/proc/{child}/cmdline", "rb") as f:
            command = f.read().replace(b"\0", b" ").decode()
        if "spawn_main" in command:
            lines.append(f"{child} {command}")
    return lines


@pytest.mark.slow
def test_sigkill_then_resume_with_two_processes_ends_with_the_same_weights(
    two_process_run, tmp_path
):
    process = train_net(
        tmp_path,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,  # its own process group: the launcher and both workers
    )
    tag = tmp_path / "last_checkpoint"
    deadline = time.time() + 300
    while not (tag.exists() and tag.read_text() >= "model_0000003.pth"):
        assert process.poll() is None and time.time() < deadline, "training ended too early"
        time.sleep(0.05)
    os.killpg(process.pid, signal.SIGKILL)
    process.wait()
    assert not (tmp_path / "model_final.pth").exists()

    train_net(tmp_path, "--resume")
    assert_same_weights(final_weights(two_process_run), final_weights(tmp_path))


@pytest.mark.slow
def test_evaluation_with_two_processes_equals_one_process(two_process_run, tmp_path):
    weights = ("MODEL.WEIGHTS", str(two_process_run / "model_final.pth"))
    results = {}
    for n in (1, 2):
        out = tmp_path / f"eval{n}"
        train_net(out, "--eval-only", opts=[*EVAL_OPTS, *weights], num_processes=n)
        with open(out / "inference" / "coco_instances_results.json") as f:
            predictions = json.load(f)
        key = lambda p: (p["image_id"], -p["score"], p["category_id"])  # noqa: E731
        results[n] = (
            sorted(predictions, key=key),
            json.loads((out / "eval_report.json").read_text()),
        )
    predictions, report = results[1]
    assert len({p["image_id"] for p in predictions}) > 30  # every rank's images are there
    assert results[2][0] == predictions
    assert results[2][1] == report


def _record_batches(args, output_dir, num_batches):
    """In each process: the file names and image sizes of the first batches of its loader."""
    from detectron2.utils import comm

    cfg = setup(args)
    loader = iter(Trainer.build_train_loader(cfg))
    batches = [[(d["file_name"], list(d["image"].shape[1:])) for d in next(loader)]
               for _ in range(num_batches)]  # fmt: skip
    with open(os.path.join(output_dir, f"rank{comm.get_rank()}.json"), "w") as f:
        json.dump({"seed": cfg.SEED, "batches": batches}, f)


@pytest.mark.slow
@pytest.mark.parametrize("num_workers", [0, 2])
@pytest.mark.parametrize("seed", [7, -1])
def test_ranks_train_on_different_images_with_different_augmentations(tmp_path, num_workers, seed):
    opts = command_line(
        SMALL_TRAINING,
        {
            "SOLVER.IMS_PER_BATCH": 4,
            # One of 9 sizes drawn per image: the sizes show each rank's augmentation draws.
            "INPUT.MIN_SIZE_TRAIN": "(64, 72, 80, 88, 96, 104, 112, 120, 128)",
            "INPUT.MIN_SIZE_TRAIN_SAMPLING": "choice",
            "DATALOADER.NUM_WORKERS": num_workers,
            "SEED": seed,
            "OUTPUT_DIR": str(tmp_path),
        },
    )
    args = argument_parser().parse_args(["--config-file", DEMO_CONFIG, *opts])
    launch(_record_batches, 2, dist_url="auto", args=(args, str(tmp_path), 6))
    ranks = [json.loads((tmp_path / f"rank{r}.json").read_text()) for r in (0, 1)]
    assert ranks[0]["seed"] == ranks[1]["seed"] >= 0
    files = [{name for batch in r["batches"] for name, _ in batch} for r in ranks]
    assert len(files[0]) == len(files[1]) == 12 and not files[0] & files[1]
    sizes = [[size for batch in r["batches"] for _, size in batch] for r in ranks]
    assert sizes[0] != sizes[1]


def test_negative_seed_draws_one_per_run_and_records_it(tmp_path):
    seeds = []
    for run in ("a", "b"):
        opts = ["SEED", "-1", "OUTPUT_DIR", str(tmp_path / run)]
        cfg = setup(argument_parser().parse_args(["--config-file", DEMO_CONFIG, *opts]))
        assert f"SEED: {cfg.SEED}" in (tmp_path / run / "config.yaml").read_text()
        seeds.append(cfg.SEED)
    assert seeds[0] != seeds[1] and min(seeds) >= 0


def _training_inputs(cfg, size=128):
    """One image with two objects, with masks and keypoints where the config trains them."""
    boxes = torch.tensor([[10.0, 12.0, 70.0, 90.0], [50.0, 40.0, 120.0, 110.0]])
    instances = Instances((size, size), gt_boxes=Boxes(boxes), gt_classes=torch.tensor([0, 1]))
    if cfg.MODEL.MASK_ON:
        masks = torch.zeros(2, size, size, dtype=torch.bool)
        for mask, (x0, y0, x1, y1) in zip(masks, boxes.int().tolist()):
            mask[y0:y1, x0:x1] = True
        instances.gt_masks = BitMasks(masks)
    if cfg.MODEL.KEYPOINT_ON:
        k = cfg.MODEL.ROI_KEYPOINT_HEAD.NUM_KEYPOINTS
        xy = boxes[:, None, :2] + torch.rand(2, k, 2) * (boxes[:, None, 2:] - boxes[:, None, :2])
        instances.gt_keypoints = Keypoints(torch.cat([xy, torch.full((2, k, 1), 2.0)], dim=2))
    image = torch.randint(0, 256, (3, size, size), generator=torch.Generator().manual_seed(0))
    return [{"image": image.float(), "instances": instances, "height": size, "width": size}]


@pytest.mark.parametrize("config", NL_CONFIGS, ids=os.path.basename)
def test_no_config_leaves_a_trainable_parameter_unused(config):
    """DDP needs DDP.FIND_UNUSED_PARAMETERS where a step leaves a parameter without gradient:
    none of ours does, so it stays False (faster)."""
    torch.manual_seed(0)
    cfg = load_config(config, ["MODEL.DEVICE", "cpu", *command_line(SMALL_IMAGES)])
    model = build_model(cfg).train()
    with EventStorage(0):
        sum(model(_training_inputs(cfg)).values()).backward()
    unused = [n for n, p in model.named_parameters() if p.requires_grad and p.grad is None]
    assert not unused


@pytest.mark.parametrize("norm", ["SyncBN", "nnSyncBN"])
def test_torch_syncbn_with_cpu_processes_is_refused_naming_the_keys(norm):
    cfg = load_config(DEMO_CONFIG, ["MODEL.NONLOCAL.NORM", norm, "MODEL.FPN.NORM", norm])
    check_norms_fit_processes(cfg, world_size=1)
    with pytest.raises(ValueError) as error:
        check_norms_fit_processes(cfg, world_size=2)
    assert f"MODEL.FPN.NORM = {norm}, MODEL.NONLOCAL.NORM = {norm}" in str(error.value)
    assert "naiveSyncBN" in str(error.value)
    check_norms_fit_processes(
        load_config(DEMO_CONFIG, ["MODEL.NONLOCAL.NORM", "naiveSyncBN"]), world_size=2
    )


@pytest.mark.slow
def test_the_lazy_tool_under_torchrun_trains_as_num_gpus_does(tmp_path):
    """``tools/lazyconfig_train_net.py`` joins torchrun's group as ``train_net.py`` does: the
    same weights, and the same evaluation, sharded over the processes."""
    tool = os.path.join(REPO_ROOT, "tools", "lazyconfig_train_net.py")
    opts = [*SMALL_LAZY, "train.max_iter=3", "train.eval_period=0", "train.seed=7"]
    opts += ["dataloader.train.total_batch_size=4", "dataloader.train.num_workers=0"]
    launchers = {
        "num_gpus": [sys.executable, tool, "--num-gpus", "2", "--dist-url", "auto"],
        "torchrun": [*TORCHRUN, "--standalone", "--nproc_per_node", "2", tool],
    }
    for name, launcher in launchers.items():
        command = [
            *launcher,
            "--config-file",
            LAZY_DEMO,
            *opts,
            f"train.output_dir={tmp_path / name}",
        ]
        result = subprocess.run(command, capture_output=True, text=True, env=ENV)
        assert result.returncode == 0, result.stderr[-3000:]
        assert "World size: 2" in result.stdout + result.stderr
    assert_same_weights(final_weights(tmp_path / "num_gpus"), final_weights(tmp_path / "torchrun"))
    # the evaluation after training, sharded over the 2 processes in both
    reports = [json.loads((tmp_path / name / "eval_report.json").read_text()) for name in launchers]
    assert reports[0] == reports[1] and "bbox" in reports[0]
