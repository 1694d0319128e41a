"""
nl_detectron as a user who installs it meets it: the wheel, installed into a fresh virtual
environment (torch and detectron2 from the set-up's, seen through the running interpreter's site
folders), run from an empty folder outside the checkout.
"""

import json
import os
import site
import subprocess
import sys
import zipfile

import pytest

from nl_detectron import model_zoo
from nl_detectron.utils.compat import has_fast_coco_eval
from tests.helpers import DEMO_BLOCK, REPO_ROOT, SMALL_LAZY, SMALL_TRAINING, command_line


def _run(*command, cwd=None):
    result = subprocess.run(
        [str(c) for c in command], capture_output=True, text=True, cwd=cwd, timeout=900
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return result.stdout


def see_this_interpreters_packages(python):
    """
    Let the venv of ``python`` import what this interpreter imports (torch and detectron2 from
    the set-up's), after its own packages: this interpreter's site folders, added as site adds
    its own (their .pth files read). ``--system-site-packages`` would give the base
    interpreter's instead, which a venv or conda-like prefix running the suite does not use.
    """
    own = _run(python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])").strip()
    folders = [*site.getsitepackages(), site.getusersitepackages()]
    lines = [f"import site; site.addsitedir({folder!r})" for folder in folders]
    with open(os.path.join(own, "_nl_detectron_test_outer_site.pth"), "w") as f:
        f.write("\n".join(lines) + "\n")


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    """(the venv's python, an empty folder, the wheel's path)."""
    root = tmp_path_factory.mktemp("installed")
    _run(sys.executable, "-m", "pip", "wheel", REPO_ROOT, "--no-deps", "--no-build-isolation",
         "-q", "-w", root / "dist")  # fmt: skip
    (wheel,) = (root / "dist").iterdir()
    _run(sys.executable, "-m", "venv", root / "venv")
    python = root / "venv" / "bin" / "python"
    see_this_interpreters_packages(python)
    _run(python, "-m", "pip", "install", "--no-deps", "-q", wheel)
    empty = root / "empty"
    empty.mkdir()
    return python, empty, wheel


@pytest.mark.slow
def test_the_wheel_ships_every_config(installed):
    _, _, wheel = installed
    names = set(zipfile.ZipFile(wheel).namelist())
    shipped = {n for n in names if n.startswith("nl_detectron/model_zoo/configs/")}
    expected = {f"nl_detectron/model_zoo/configs/{p}" for p in model_zoo.list_configs()}
    assert expected <= shipped
    assert "nl_detectron/model_zoo/configs/demo/measured_runs.json" in shipped
    assert "nl_detectron/tools/train_net.py" in names


@pytest.mark.slow
def test_from_an_empty_folder_every_config_loads_and_compare_twins_runs(installed):
    """
    The installed package, nothing of the checkout: every config through ``model_zoo``, then
    ``python -m nl_detectron.tools.compare_twins`` on the fast demo, which trains and evaluates
    both twins through the installed ``nl_detectron.tools.train_net``, each with 2 processes
    (``--num-gpus 2``), as a user with GPUs runs it.
    """
    python, empty, _ = installed
    listing = _run(python, "-c", (
        "import os, nl_detectron\n"
        "from nl_detectron import model_zoo\n"
        "print(os.path.dirname(nl_detectron.__file__))\n"
        "paths = model_zoo.list_configs()\n"
        "for p in paths:\n"
        "    model_zoo.get_config_file(p)\n"
        "    os.path.basename(p).startswith('Base-') or model_zoo.get_config(p)\n"
        "print(len(paths))\n"
        "print(model_zoo.get_config_file('demo/mask_rcnn_R18_NL_fast.yaml'))\n"
    ), cwd=empty)  # fmt: skip
    package, count, config = listing.split()
    assert package.startswith(str(python.parent.parent)), package  # the wheel's, not the checkout
    assert int(count) == len(model_zoo.list_configs())
    assert config.startswith(package)
    opts = command_line(SMALL_TRAINING, {"SOLVER.MAX_ITER": 2, "SOLVER.CHECKPOINT_PERIOD": 100})
    log = _run(python, "-m", "nl_detectron.tools.compare_twins", "--config-file", config,
               "--seeds", "1", "--output", "twins", "--num-gpus", "2", *opts,
               cwd=empty)  # fmt: skip
    assert f"{python} -m nl_detectron.tools.train_net --config-file" in log
    out = empty / "twins"
    for variant in ("baseline", "NL"):
        assert (out / variant / "seed1" / "eval_report.json").exists()
        log = (out / variant / "seed1" / "train_stdout.log").read_text()
        assert "World size: 2" in log, log[-3000:]
    assert "build_resnet_fpn_backbone" in (out / "baseline.yaml").read_text()
    markdown = (out / "twins.md").read_text()
    rows = ("bbox/AP", "segm/AP", "s/iter", "peak memory (MiB)", "params (M)", "inference GMACs")
    for row in rows:
        assert f"| {row}" in markdown, row
    summary = json.loads((out / "twins.json").read_text())
    assert summary["seeds"] == [1] and set(summary["runs"]) == {"baseline", "NL"}
    assert (out / "curves.png").stat().st_size > 10_000
    assert "## Attention statistics of the trained NL blocks" in markdown
    attention = summary["attention_statistics"]["NL seed 1"][DEMO_BLOCK]
    assert attention["maps"] == 20 and 0.0 <= attention["attention_distance"] <= 1.0
    assert sorted(os.listdir(empty)) == ["twins"]  # nothing written outside its output


def _detectron2_tool(python, name):
    """The path of detectron2's own ``tools/<name>`` (its sdist installs them as a package
    ``tools`` beside it); None where this detectron2 has none."""
    out = _run(python, "-c", (
        "import os, detectron2\n"
        "print(os.path.join(os.path.dirname(os.path.dirname(detectron2.__file__)), 'tools'))"
    ))  # fmt: skip
    path = os.path.join(out.strip(), name)
    return path if os.path.isfile(path) else None


@pytest.mark.slow
def test_detectron2s_own_lazy_tool_trains_and_evaluates_our_python_config(installed):
    """detectron2's ``tools/lazyconfig_train_net.py``, nothing of ours but the installed config
    (which imports nl_detectron): it trains, then evaluates with the COCO evaluator the config
    chose for this detectron2."""
    python, empty, _ = installed
    tool = _detectron2_tool(python, "lazyconfig_train_net.py")
    if tool is None:
        pytest.skip("this detectron2 installs no tools/lazyconfig_train_net.py")
    config = _run(python, "-c", (
        "from nl_detectron import model_zoo\n"
        "print(model_zoo.get_config_file('lazy/mask_rcnn_R18_NL_fast.py'))"
    ), cwd=empty).strip()  # fmt: skip
    assert "site-packages" in config
    work = empty / "d2_tool"
    work.mkdir()
    log = _run(python, tool, "--config-file", config, "train.max_iter=2",
               "train.eval_period=0", "train.output_dir=out", *SMALL_LAZY, cwd=work)  # fmt: skip
    log += (work / "out" / "log.txt").read_text()
    api = "unofficial" if has_fast_coco_eval() else "official"  # C++, or pycocotools
    assert f"Evaluating predictions with {api} COCO API" in log
    assert "copypaste: Task: bbox" in log and "copypaste: Task: segm" in log
    assert (work / "out" / "model_final.pth").exists()


@pytest.mark.slow
def test_a_users_yaml_starts_from_an_installed_config_or_adds_the_block_to_its_own(installed):
    """docs/your_project.md: a YAML outside the repository whose ``_BASE_`` is an installed
    config, and one that adds the block to a detectron2 config by its keys alone."""
    python, empty, _ = installed
    folder = empty / "user"
    folder.mkdir()
    _run(python, "-c", (
        "import sys\n"
        "from detectron2 import model_zoo as d2_zoo\n"
        "from nl_detectron import model_zoo\n"
        "base = model_zoo.get_config_file('mask_rcnn_R50_NL.yaml')\n"
        "open('mine.yaml', 'w').write(\n"
        "    f'_BASE_: \"{base}\"\\nMODEL:\\n  ROI_HEADS:\\n    NUM_CLASSES: 7\\n')\n"
        "own = d2_zoo.get_config_file('COCO-InstanceSegmentation/mask_rcnn_R_50_FPN_1x.yaml')\n"
        "open('own_with_nl.yaml', 'w').write(\n"
        "    f'_BASE_: \"{own}\"\\nMODEL:\\n  BACKBONE:\\n'\n"
        "    '    NAME: build_resnet_fpn_nl_backbone\\n'\n"
        "    '  NONLOCAL:\\n    AFTER_BLOCKS:\\n      RES4: [-2]\\n')\n"
    ), cwd=folder)  # fmt: skip
    built = _run(python, "-c", (
        "from detectron2.modeling import build_model\n"
        "from nl_detectron.config import load_config\n"
        "for name in ('mine.yaml', 'own_with_nl.yaml'):\n"
        "    cfg = load_config(name, ['MODEL.DEVICE', 'cpu', 'MODEL.WEIGHTS', ''])\n"
        "    model = build_model(cfg)\n"
        "    blocks = [n for n, _ in model.named_modules() if n.endswith('nonlocal4')]\n"
        "    print(name, cfg.MODEL.ROI_HEADS.NUM_CLASSES, cfg.MODEL.NONLOCAL.NORM, blocks)\n"
    ), cwd=folder)  # fmt: skip
    lines = built.strip().splitlines()[-2:]
    # the installed config's SyncBN; one's own config takes the default BN
    assert lines[0] == "mine.yaml 7 SyncBN ['backbone.bottom_up.res4.nonlocal4']"
    assert lines[1] == "own_with_nl.yaml 80 BN ['backbone.bottom_up.res4.nonlocal4']"
