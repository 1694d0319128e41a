#!/usr/bin/env python3
"""
Prepare the active Python interpreter for nl_detectron, idempotently.

1. torch + torchvision: kept when importable with working ops (``torchvision.ops.nms``),
   otherwise the pinned pair is installed from the package registry.
2. detectron2: kept untouched when importable (a user's own build of upstream main, or v0.6);
   otherwise built from the PyPI source distribution ``pb1-detectron2==0.6`` (pinned sha256) as a
   pure-Python wheel, with the fixes current NumPy, Pillow and torch need (see ``PATCHES``).
3. nl_detectron itself: installed editable from this checkout, with its ordinary dependencies
   and the extras ``dev`` (the test suite, lint, and nbconvert with ipykernel, which execute
   docs/tutorial.ipynb) and ``export``.
4. With ``--browser``: Debian's ``chromium`` and ``chromium-driver`` (apt-get), which the
   attention viewer's browser test drives through selenium; kept when already there.

Only the Python standard library is used, since nothing else can be assumed to be installed.
Run ``python tools/setup_env.py --help`` for the options.
"""

import argparse
import hashlib
import importlib.metadata
import os
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

TORCH_PIN = ["torch==2.11.0", "torchvision==0.26.0"]

D2_SDIST = "pb1-detectron2==0.6"
D2_SDIST_SHA256 = "5d2e9e51e523ec72f6a31cca04b0a515492e9514b773a3d134cedc0677170b29"
# Bump when the build recipe below changes: an older build of ours is then rebuilt.
D2_BUILD_VERSION = "0.6+nlpurepy.3"

D2_REQUIREMENTS = [
    "Pillow>=7.1",
    "matplotlib",
    "pycocotools>=2.0.2",
    "termcolor>=1.1",
    "yacs>=0.1.8",
    "tabulate",
    "cloudpickle",
    "tqdm>4.29.0",
    "tensorboard",
    "fvcore>=0.1.5,<0.1.6",
    "iopath>=0.1.7,<0.1.10",
    "omegaconf>=2.1",
    "hydra-core>=1.1",
]

# The oldest Python the pinned torch has wheels for (torch 2.11: 3.10 to 3.14).
MIN_PYTHON = (3, 10)
MIN_TORCH = (2, 4)  # torch.nn.attention.sdpa_kernel, torch.is_autocast_enabled(device_type)

TORCH_VERSION = """
import torch
print(torch.__version__)
"""

TORCH_CHECK = """
import torch, torchvision
boxes = torch.tensor([[0.0, 0.0, 10.0, 10.0], [1.0, 1.0, 10.0, 10.0]])
assert torchvision.ops.nms(boxes, torch.tensor([1.0, 0.9]), 0.5).tolist() == [0]
print(torch.__version__, torchvision.__version__)
"""

D2_CHECK = """
import detectron2, detectron2.modeling, detectron2.engine
from detectron2 import model_zoo
model_zoo.get_config_file("COCO-InstanceSegmentation/mask_rcnn_R_50_FPN_1x.yaml")
print(detectron2.__version__, detectron2.__file__)
"""

C_STUB = '''\
"""
Stand-in for detectron2's C++ extension, which this pure-Python build of detectron2 v0.6 lacks.

Importing it works, and so do the questions detectron2.utils.collect_env asks of it; using any
operator from it raises an error naming the operator.
"""


def get_compiler_version():
    return "none: pure-Python build of detectron2 (no C++ operators)"


def get_cuda_version():
    return "none: pure-Python build of detectron2 (no CUDA operators)"


def has_cuda():
    return False


def __getattr__(name):
    if name.startswith("__"):
        raise AttributeError(name)
    raise RuntimeError(
        f"detectron2._C.{name} is a C++/CUDA operator (rotated boxes, deformable convolution or "
        "the fast COCOeval), and this detectron2 was built without C++ extensions by "
        "nl_detectron's tools/setup_env.py. Build detectron2 from source "
        "(https://detectron2.readthedocs.io/en/latest/tutorials/install.html) to use it; "
        "nl_detectron then keeps that build."
    )
'''

SETUP_PY = """\
from setuptools import find_packages, setup

setup(
    name="detectron2",
    version={version!r},
    description="detectron2 v0.6 (from pb1-detectron2), pure Python, built by nl_detectron",
    packages=find_packages(exclude=("configs", "tests*")),
    package_data={{"detectron2.model_zoo": ["configs/**/*.yaml", "configs/**/*.py"]}},
    python_requires=">=3.8",
    install_requires={requirements!r},
)
"""


def _remove_pkg_resources(text):
    text = text.replace("import pkg_resources\n", "")
    old = (
        'pkg_resources.resource_filename(\n        "detectron2.model_zoo", '
        'os.path.join("configs", config_path)\n    )'
    )
    new = 'os.path.join(os.path.dirname(os.path.abspath(__file__)), "configs", config_path)'
    return text.replace(old, new)


def _optional_caffe2_export(text):
    return text.replace(
        "from .api import *\n",
        "try:\n"
        "    from .api import *\n"
        "except ImportError:  # caffe2, which current torch no longer ships\n"
        "    pass\n",
    )


def _numpy_aliases(text):
    # np.bool / np.int / np.float / np.str / np.object were removed in NumPy 1.24.
    return re.sub(r"\bnp\.(bool|int|float|str|object)\b(?!_)", r"\1", text)


# (relative path or None for every .py file, function text -> text, what must change)
PATCHES = [
    (None, _numpy_aliases, "removed NumPy aliases"),
    (
        "detectron2/data/transforms/transform.py",
        lambda t: t.replace("Image.LINEAR", "Image.BILINEAR"),
        "Pillow's removed Image.LINEAR",
    ),
    ("detectron2/model_zoo/model_zoo.py", _remove_pkg_resources, "pkg_resources"),
    ("detectron2/export/__init__.py", _optional_caffe2_export, "caffe2 import"),
    # Python >= 3.11's random.sample refuses a set: a skipped image then killed training.
    (
        "detectron2/data/common.py",
        lambda t: t.replace(
            "self._rng.sample(self._fallback_candidates, k=1)",
            "self._rng.sample(list(self._fallback_candidates), k=1)",
        ),
        "MapDataset's fallback sample of a set",
    ),
]


class SetupError(RuntimeError):
    pass


def log(msg):
    print(f"[setup_env] {msg}", flush=True)


def run(cmd, **kwargs):
    log("$ " + " ".join(cmd))
    result = subprocess.run(cmd, **kwargs)
    if result.returncode != 0:
        raise SetupError(f"command failed with exit code {result.returncode}: {' '.join(cmd)}")
    return result


def _run_python(code):
    return subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=tempfile.gettempdir()
    )


def check_python(code):
    """Run ``code`` in a fresh interpreter; return its stdout, or None when it fails."""
    result = _run_python(code)
    return result.stdout.strip() if result.returncode == 0 else None


def require_python(code, what):
    """Like ``check_python``, but a failure raises, with the end of the error it printed."""
    result = _run_python(code)
    if result.returncode != 0:
        raise SetupError(f"{what}:\n{result.stderr.strip()[-2000:]}")
    return result.stdout.strip()


def pip(*args):
    return run([sys.executable, "-m", "pip", *args, "--disable-pip-version-check"])


def check_python_version(version_info=sys.version_info):
    if tuple(version_info[:2]) < MIN_PYTHON:
        found = ".".join(map(str, version_info[:3]))
        raise SetupError(
            f"Python {found} is too old: nl_detectron needs Python >= "
            f"{'.'.join(map(str, MIN_PYTHON))}, the oldest for which PyPI has the torch this "
            f"set-up installs ({TORCH_PIN[0]}). Run it with a newer python3 (docs/install.md)."
        )


def ensure_torch():
    version = check_python(TORCH_VERSION)
    if version and tuple(int(v) for v in re.findall(r"\d+", version)[:2]) < MIN_TORCH:
        raise SetupError(
            f"torch {version} is installed; nl_detectron needs torch >= "
            f"{'.'.join(map(str, MIN_TORCH))}. Upgrade it (with a matching torchvision), or run "
            "in a fresh environment where this set-up installs torch "
            f"{TORCH_PIN[0].split('==')[1]}."
        )
    found = check_python(TORCH_CHECK)
    if found:
        log(f"kept torch + torchvision {found}")
        return
    log(f"no working torch + torchvision; installing {' '.join(TORCH_PIN)}")
    pip("install", *TORCH_PIN)
    found = require_python(TORCH_CHECK, "torch + torchvision were installed but fail the check")
    log(f"installed torch + torchvision {found}")


def installed_detectron2_version():
    try:
        return importlib.metadata.version("detectron2")
    except importlib.metadata.PackageNotFoundError:
        return None


def patch_sources(src_dir):
    """Apply ``PATCHES`` in place; every patch must change something, or the sdist is not ours."""
    for rel_path, fix, what in PATCHES:
        if rel_path is None:
            paths = [
                os.path.join(root, f)
                for root, _, files in os.walk(os.path.join(src_dir, "detectron2"))
                for f in files
                if f.endswith(".py")
            ]
        else:
            paths = [os.path.join(src_dir, rel_path)]
        changed = 0
        for path in paths:
            with open(path) as f:
                text = f.read()
            new_text = fix(text)
            if new_text != text:
                with open(path, "w") as f:
                    f.write(new_text)
                changed += 1
        if changed == 0:
            raise SetupError(f"patch for {what} changed nothing in {rel_path or 'detectron2/'}")
        log(f"patched {what} ({changed} file(s))")
    with open(os.path.join(src_dir, "detectron2", "_C.py"), "w") as f:
        f.write(C_STUB)
    with open(os.path.join(src_dir, "setup.py"), "w") as f:
        f.write(SETUP_PY.format(version=D2_BUILD_VERSION, requirements=D2_REQUIREMENTS))
    for stale in ("setup.cfg", "pyproject.toml", "pb1_detectron2.egg-info"):
        path = os.path.join(src_dir, stale)
        if os.path.isdir(path):
            shutil.rmtree(path)
        elif os.path.exists(path):
            os.remove(path)


def sha256(path):
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def build_detectron2_wheel(wheel_dir):
    """Download, verify, patch and build detectron2 v0.6; return the path of the wheel."""
    pip("install", "--quiet", "setuptools", "wheel")
    with tempfile.TemporaryDirectory(prefix="nl_detectron_d2_") as tmp:
        req = os.path.join(tmp, "requirements.txt")
        with open(req, "w") as f:
            f.write(f"{D2_SDIST} --hash=sha256:{D2_SDIST_SHA256}\n")
        # Preparing the sdist's metadata imports torch, hence no build isolation.
        pip(
            "download",
            "--no-deps",
            "--no-binary",
            ":all:",
            "--no-build-isolation",
            "-d",
            tmp,
            "-r",
            req,
        )
        sdists = [f for f in os.listdir(tmp) if f.endswith(".tar.gz")]
        if len(sdists) != 1:
            raise SetupError(f"expected one source distribution in {tmp}, found {sdists}")
        sdist = os.path.join(tmp, sdists[0])
        if sha256(sdist) != D2_SDIST_SHA256:
            raise SetupError(f"{sdist} has sha256 {sha256(sdist)}, expected {D2_SDIST_SHA256}")
        with tarfile.open(sdist) as tar:
            if hasattr(tarfile, "data_filter"):
                tar.extractall(tmp, filter="data")
            else:  # Python < 3.8.17 / 3.11.4: the archive's sha256 was checked above
                tar.extractall(tmp)
        src_dir = os.path.join(tmp, sdists[0][: -len(".tar.gz")])
        if not os.path.isdir(os.path.join(src_dir, "detectron2", "model_zoo", "configs")):
            raise SetupError(f"{sdist} has no detectron2/model_zoo/configs")
        patch_sources(src_dir)
        os.makedirs(wheel_dir, exist_ok=True)
        pip("wheel", "--no-deps", "--no-build-isolation", "-w", wheel_dir, src_dir)
    wheels = [f for f in os.listdir(wheel_dir) if f.startswith(f"detectron2-{D2_BUILD_VERSION}-")]
    if len(wheels) != 1:
        raise SetupError(f"expected one detectron2 wheel in {wheel_dir}, found {wheels}")
    return os.path.join(wheel_dir, wheels[0])


def ensure_detectron2(wheel_dir, rebuild=False):
    version = installed_detectron2_version()
    ours = version is not None and "+nlpurepy" in version
    found = check_python(D2_CHECK)
    if found and not rebuild and (not ours or version == D2_BUILD_VERSION):
        log(f"kept detectron2 {found}")
        return
    if found and not ours:
        raise SetupError(f"--rebuild-detectron2 refuses to replace the user's detectron2 {found}")
    log(f"building detectron2 {D2_BUILD_VERSION} from {D2_SDIST} (was: {version or 'absent'})")
    wheel = build_detectron2_wheel(wheel_dir)
    pip("install", "--force-reinstall", "--no-deps", wheel)
    pip("install", *D2_REQUIREMENTS)
    found = require_python(D2_CHECK, "detectron2 was built and installed but fails the check")
    log(f"built and installed detectron2 {found} (wheel: {wheel})")


# Debian's headless browser for tests/test_viewer.py, and where the test looks for it.
BROWSER_PACKAGES = ("chromium", "chromium-driver")
BROWSER_FILES = ("/usr/bin/chromium", "/usr/bin/chromedriver")


def ensure_browser():
    if all(os.path.exists(path) for path in BROWSER_FILES):
        log(f"kept the browser: {', '.join(BROWSER_FILES)}")
        return
    apt = shutil.which("apt-get")
    if apt is None:
        raise SetupError(
            f"--browser installs Debian's {' and '.join(BROWSER_PACKAGES)} with apt-get, which "
            f"this system lacks; install a Chromium and its driver as {' and '.join(BROWSER_FILES)}"
        )
    sudo = [] if os.geteuid() == 0 else ["sudo", "-n"]
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    run([*sudo, apt, "update", "-qq"], env=env)
    run([*sudo, apt, "install", "-y", "-qq", "--no-install-recommends", *BROWSER_PACKAGES], env=env)
    missing = [path for path in BROWSER_FILES if not os.path.exists(path)]
    if missing:
        raise SetupError(f"apt-get installed {BROWSER_PACKAGES} but {missing} do not exist")
    log(f"installed the browser: {', '.join(BROWSER_PACKAGES)}")


def ensure_nl_detectron():
    pip("install", "--quiet", "--no-build-isolation", "-e", f"{REPO_ROOT}[dev,export]")
    log(f"installed nl_detectron (editable) from {REPO_ROOT}")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--wheel-dir",
        default=os.path.join(REPO_ROOT, "build", "wheels"),
        help="where the detectron2 wheel is written (default: build/wheels)",
    )
    parser.add_argument(
        "--rebuild-detectron2",
        action="store_true",
        help="rebuild and reinstall the pure-Python detectron2 even if it imports",
    )
    parser.add_argument(
        "--browser",
        action="store_true",
        help="also install Debian's chromium and chromium-driver (the viewer's browser test)",
    )
    args = parser.parse_args(argv)
    log(f"python: {sys.executable} ({sys.version.split()[0]})")
    try:
        check_python_version()
        ensure_torch()
        ensure_detectron2(args.wheel_dir, rebuild=args.rebuild_detectron2)
        ensure_nl_detectron()
        if args.browser:
            ensure_browser()
    except SetupError as e:
        log(f"FAILED: {e}")
        return 1
    log("environment ready")
    return 0


if __name__ == "__main__":
    sys.exit(main())
