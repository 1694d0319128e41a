#!/usr/bin/env python
"""
nl_detectron: non-local blocks for detectron2.

torch, torchvision and detectron2 are not in ``install_requires`` (as in detectron2's own
projects): ``python tools/setup_env.py`` installs or keeps them, see docs/install.md.
"""

import glob
import importlib.util
import os
import shutil

from setuptools import find_packages, setup

HERE = os.path.dirname(os.path.abspath(__file__))

# opencv-python, opencv-python-headless (and the contrib builds) each install a module cv2, and two
# of them installed together break each other: keep whichever is there. Where none is, the
# headless one, which needs no GUI libraries. (Seen only where setup.py runs in the environment
# itself, as tools/setup_env.py runs it: pip install --no-build-isolation.)
OPENCV = [] if importlib.util.find_spec("cv2") else ["opencv-python-headless>=4.5"]


def model_zoo_configs():
    """
    Put the repository's ``configs/`` into the package as ``nl_detectron/model_zoo/configs`` (a
    link to it, or a copy where links cannot be made), as detectron2's setup.py does with its
    model zoo, so that the wheel ships them; return their paths as package data.
    """
    source = os.path.join(HERE, "configs")
    destination = os.path.join(HERE, "nl_detectron", "model_zoo", "configs")
    if os.path.isdir(source):
        if os.path.islink(destination):
            os.unlink(destination)
        elif os.path.isdir(destination):
            shutil.rmtree(destination)
        try:
            os.symlink(os.path.relpath(source, os.path.dirname(destination)), destination)
        except OSError:
            shutil.copytree(source, destination)
    files = [
        os.path.relpath(path, os.path.dirname(destination))
        for pattern in ("**/*.yaml", "**/*.py", "**/*.json")
        for path in glob.glob(os.path.join(destination, pattern), recursive=True)
    ]
    return sorted(files)


setup(
    name="nl_detectron",
    version="0.1.0",
    license="Apache-2.0",
    description="Non-local Neural Networks (Wang et al., CVPR 2018) for detectron2",
    packages=find_packages(exclude=("tests", "tests.*", "benchmarks", "tools")),
    package_data={
        "nl_detectron": ["visualization/viewer.html"],
        "nl_detectron.model_zoo": model_zoo_configs(),
    },
    python_requires=">=3.10",  # tools/setup_env.py MIN_PYTHON: torch 2.11 wheels
    install_requires=[
        "fvcore>=0.1.5,<0.1.6",
        "iopath>=0.1.7,<0.1.10",
        "pycocotools>=2.0.2",
        *OPENCV,
        "numpy>=1.21",
        "Pillow>=8.0",
        "matplotlib>=3.3",
        # fvcore's crop of polygon masks (INPUT.CROP.ENABLED) imports it.
        "shapely>=1.7",
        "tqdm>=4.29",
        "yacs>=0.1.8",
    ],
    # dev: what `make test` and `make lint` use (nbconvert and ipykernel execute
    # docs/tutorial.ipynb); export: tools/export_model.py --format onnx and
    # nl_deploy's ONNX runtime (setup_env.py installs both).
    extras_require={
        "dev": [
            "pytest>=7",
            "pytest-timeout>=2",
            "pytest-xdist>=3.2",
            "filelock>=3",
            "hypothesis>=6.100",
            "ipykernel>=6",
            "nbconvert>=7",
            "ruff==0.17.6",
            "selenium>=4.10",
        ],
        "export": ["onnx>=1.14", "onnxruntime>=1.16"],
    },
)
