"""
The docs hold: every relative link and #anchor in every markdown file resolves, every repository
path they name exists, and every `python tools/X.py ...` (or benchmarks/) command in a code block
is accepted by that script's argument parser (parsed only, not run). The figures
that several pages state are held to docs/results.json by tests/test_results_file.py.
"""

import argparse
import glob
import os
import re
import runpy
import shlex
import sys

import pytest

from tests.helpers import REPO_ROOT

MARKDOWN = sorted(
    os.path.relpath(p, REPO_ROOT)
    for p in glob.glob(os.path.join(REPO_ROOT, "**", "*.md"), recursive=True)
    if not os.path.relpath(p, REPO_ROOT).startswith(("build", "output", "datasets", "."))
)
LINK = re.compile(r"\]\(([^)\s]+)\)")
CODE_SPAN = re.compile(r"`([^`\n]+)`")
FENCE = re.compile(r"^```[^\n]*\n(.*?)^```", re.S | re.M)
REPO_DIRS = ("configs/", "tools/", "nl_detectron/", "nl_deploy/", "tests/", "benchmarks/", "docs/")


def _text(path):
    with open(os.path.join(REPO_ROOT, path)) as f:
        return f.read()


def _anchors(path):
    """GitHub's anchors of the file's headings: lower case, punctuation dropped, spaces to -."""
    anchors = set()
    for heading in re.findall(r"^#+ (.+)$", FENCE.sub("", _text(path)), re.M):
        slug = re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")
        anchors.add(slug)
    return anchors


def test_the_docs_are_found():
    assert {"README.md", "docs/install.md", "docs/reliability.md"} <= set(MARKDOWN)


@pytest.mark.parametrize("page", MARKDOWN)
def test_relative_links_and_anchors_resolve(page):
    folder = os.path.dirname(page)
    for target in LINK.findall(FENCE.sub("", _text(page))):
        if re.match(r"[a-z]+:", target):  # https:, mailto:
            continue
        path, _, anchor = target.partition("#")
        resolved = os.path.normpath(os.path.join(folder, path)) if path else page
        assert os.path.exists(os.path.join(REPO_ROOT, resolved)), f"{page}: {target}"
        if anchor:
            assert resolved.endswith(".md"), f"{page}: {target}"
            assert anchor in _anchors(resolved), f"{page}: {target}: no heading #{anchor}"


def _named_paths(text):
    """Repository paths in code spans and code blocks: tokens under one of REPO_DIRS, without
    wildcards or placeholders; a test id's '::' part dropped."""
    for span in CODE_SPAN.findall(text) + FENCE.findall(text):
        for token in re.split(r"[\s,()\"'=]+", span):
            token = token.split("::")[0].rstrip(".:;")
            if token.startswith(REPO_DIRS) and not re.search(r"[*{}<>$]|\.\.\.", token):
                yield token


@pytest.mark.parametrize("page", MARKDOWN)
def test_named_repository_paths_exist(page):
    missing = [
        p for p in _named_paths(_text(page)) if not os.path.exists(os.path.join(REPO_ROOT, p))
    ]
    assert not missing, f"{page} names paths that do not exist: {missing}"


def _commands(text):
    """``python tools/X.py ...`` / ``python benchmarks/X.py ...`` / ``python -m
    nl_detectron.tools.X ...`` lines of the code blocks, with
    their continuation lines joined, leading VAR=value assignments and comments dropped."""
    for block in FENCE.findall(text):
        for command in block.replace("\\\n", " ").splitlines():
            words = shlex.split(command, comments=True)
            while words and re.fullmatch(r"[A-Z_]+=\S*", words[0]):
                words = words[1:]
            if len(words) >= 2 and words[0] in ("python", "python3"):
                if words[1].startswith(("tools/", "benchmarks/")) and words[1].endswith(".py"):
                    yield words[1], words[2:]
                elif words[1] == "-m" and words[2].startswith("nl_detectron.tools."):
                    yield words[2], words[3:]  # the installed package's command


COMMANDS = sorted(
    {(page, script, tuple(args)) for page in MARKDOWN for script, args in _commands(_text(page))}
)


class _Parsed(Exception):
    pass


def test_commands_are_found():
    scripts = {script for _, script, _ in COMMANDS}
    assert {"tools/train_net.py", "tools/demo.py", "tools/attention_maps.py"} <= scripts


@pytest.mark.parametrize(
    "page, script, args", COMMANDS, ids=[f"{p}:{s}:{i}" for i, (p, s, _) in enumerate(COMMANDS)]
)
def test_documented_command_is_accepted_by_the_scripts_parser(page, script, args, monkeypatch):
    """The script runs as __main__ until its parser returns: the parse is the test."""
    original = argparse.ArgumentParser.parse_args

    def parse_and_stop(self, args=None, namespace=None):
        original(self, args, namespace)
        raise _Parsed

    monkeypatch.setattr(argparse.ArgumentParser, "parse_args", parse_and_stop)
    monkeypatch.setattr(sys, "argv", [script, *args])
    # `python script` puts the script's folder first on sys.path (benchmarks import each other).
    monkeypatch.setattr(sys, "path", [os.path.dirname(os.path.join(REPO_ROOT, script)), *sys.path])
    monkeypatch.chdir(REPO_ROOT)
    with pytest.raises(_Parsed):
        try:
            if script.endswith(".py"):
                runpy.run_path(os.path.join(REPO_ROOT, script), run_name="__main__")
            else:
                runpy.run_module(script, run_name="__main__")
        except SystemExit as e:
            pytest.fail(f"{page}: python {script} {shlex.join(args)}: the parser exited ({e.code})")


def test_the_package_map_names_every_module_and_subpackage():
    with open(os.path.join(REPO_ROOT, "CONTRIBUTING.md")) as f:
        readme = f.read()
    package = os.path.join(REPO_ROOT, "nl_detectron")
    for name in sorted(os.listdir(package)):
        path = os.path.join(package, name)
        if os.path.isdir(path) and os.path.exists(os.path.join(path, "__init__.py")):
            assert f"`nl_detectron/{name}/`" in readme, name
        elif name.endswith(".py") and name != "__init__.py":
            assert f"`nl_detectron/{name}`" in readme, name


# Process narrative a user cannot use: commit hashes, internal issue numbers, "session", machine
# nicknames. Allowed only in a page's "## Provenance" appendix, its last section.
NARRATIVE = re.compile(r"\b[0-9a-f]{7}\b|issue [0-9]+|session|third machine|EPYC2", re.I)


USER_PAGES = [p for p in MARKDOWN if p == "README.md" or p.startswith("docs/")] + sorted(
    os.path.relpath(p, REPO_ROOT) for p in glob.glob(os.path.join(REPO_ROOT, "docs", "*.json"))
)


@pytest.mark.parametrize("page", USER_PAGES)
def test_user_pages_hold_no_process_narrative(page):
    text = _text(page).split("\n## Provenance\n")[0]
    found = [
        f"{page}:{number}: {line.strip()}"
        for number, line in enumerate(text.splitlines(), 1)
        if NARRATIVE.search(line)
    ]
    assert not found, "\n".join(found)


def test_readme_is_short_and_shows_the_coco_command_early():
    lines = _text("README.md").splitlines()
    assert len(lines) <= 120, len(lines)
    first = next(i for i, line in enumerate(lines, 1) if "tools/train_net.py --config-file" in line)
    assert first <= 40 and "configs/mask_rcnn_R50_NL.yaml" in lines[first - 1], first
