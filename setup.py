#!/usr/bin/env python
"""
nl_detectron: non-local blocks for detectron2.

torch, torchvision and detectron2 are not in ``install_requires`` (as in detectron2's own
projects): ``python tools/setup_env.py`` installs or keeps them, see README.md.
"""
from setuptools import find_packages, setup

setup(
    name="nl_detectron",
    version="0.1.0",
    description="Non-local Neural Networks (Wang et al., CVPR 2018) for detectron2",
    packages=find_packages(exclude=("tests", "tests.*", "benchmarks", "tools")),
    python_requires=">=3.8",
    install_requires=[
        "fvcore>=0.1.5,<0.1.6",
        "iopath>=0.1.7,<0.1.10",
        "pycocotools>=2.0.2",
        "opencv-python-headless>=4.5",
        "numpy>=1.21",
        "Pillow>=8.0",
        "matplotlib>=3.3",
        # fvcore's crop of polygon masks (INPUT.CROP.ENABLED) imports it.
        "shapely>=1.7",
        "tqdm>=4.29",
        "yacs>=0.1.8",
    ],
    extras_require={"dev": ["pytest>=7", "pytest-timeout>=2"]},
)
