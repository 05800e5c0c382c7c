"""The lock files agree with pyproject.toml and with each other (no network: the files alone).

`make lock` writes them with uv; `make install` installs requirements-dev.lock and the Dockerfile
requirements-image.lock, both with `pip --require-hashes`.
"""

from __future__ import annotations

import base64
import hashlib
import re
import tomllib
from dataclasses import dataclass
from importlib.metadata import distribution
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

REPO = Path(__file__).resolve().parent.parent
PYPROJECT = tomllib.loads((REPO / "pyproject.toml").read_text())
DEV_LOCK = REPO / "requirements-dev.lock"
IMAGE_LOCK = REPO / "requirements-image.lock"


@dataclass(frozen=True)
class Pin:
    """One entry of a lock file: `name==version [; marker]` followed by its `--hash=` options."""

    line: str
    version: str | None
    hashes: frozenset[str]


def _pins(lock: Path) -> dict[str, tuple[Pin, ...]]:
    """The entries of `lock` by canonical name (continuation lines joined, comments dropped). A universal
    lock may pin one package twice, for disjoint markers (e.g. one version below Python 3.12, one from it)."""
    text = re.sub(r"\s*\\\n\s*", " ", lock.read_text())
    pins: dict[str, tuple[Pin, ...]] = {}
    for line in text.splitlines():
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        words = line.split(" --hash=")
        requirement = Requirement(words[0])
        (specifier, *more) = list(requirement.specifier) or [None]
        version = specifier.version if specifier and specifier.operator == "==" and not more else None
        name = canonicalize_name(requirement.name)
        pins[name] = (*pins.get(name, ()), Pin(line, version, frozenset(words[1:])))
    return pins


DEV = _pins(DEV_LOCK)
IMAGE = _pins(IMAGE_LOCK)


def _unpinned(lock: dict[str, tuple[Pin, ...]], wanted: list[Requirement]) -> list[str]:
    """The requirements of `wanted` that `lock` lacks or pins outside their range."""
    def within(r: Requirement) -> bool:
        pins = lock.get(canonicalize_name(r.name), ())
        return bool(pins) and all(p.version is not None and p.version in r.specifier for p in pins)

    return [str(r) for r in wanted if not within(r)]


def _direct(*groups: str) -> list[Requirement]:
    """The requirements pyproject.toml declares: `dependencies`, then the named extras."""
    project = PYPROJECT["project"]
    lines = project["dependencies"] + [r for g in groups for r in project["optional-dependencies"][g]]
    return [Requirement(line) for line in lines]


EXTRAS = tuple(PYPROJECT["project"]["optional-dependencies"])
BUILD = [Requirement(r) for r in PYPROJECT["build-system"]["requires"]]


@pytest.mark.parametrize("lock", [DEV_LOCK, IMAGE_LOCK], ids=lambda p: p.name)
def test_every_entry_is_an_exact_version_with_hashes(lock: Path) -> None:
    loose = [p.line for pins in _pins(lock).values() for p in pins if p.version is None or not p.hashes]
    assert loose == []


@pytest.mark.parametrize("lock", [DEV_LOCK, IMAGE_LOCK], ids=lambda p: p.name)
def test_hashes_are_sha256(lock: Path) -> None:
    assert {h.split(":")[0] for pins in _pins(lock).values() for p in pins for h in p.hashes} == {"sha256"}


def test_dev_lock_pins_every_direct_dependency_within_its_range() -> None:
    """What `make install` installs: the dependencies, every extra, and pip and setuptools themselves."""
    assert _unpinned(DEV, _direct(*EXTRAS) + BUILD + [Requirement("pip")]) == []


def test_image_lock_pins_the_runtime_dependencies_and_the_build_backend() -> None:
    assert _unpinned(IMAGE, _direct() + BUILD) == []


def test_image_lock_leaves_out_what_only_the_extras_need() -> None:
    """No CDK, test tools or Powertools in the image: only the Lambda handlers import Powertools."""
    runtime = {canonicalize_name(r.name) for r in _direct()}
    extras_only = {canonicalize_name(r.name) for r in _direct(*EXTRAS)} - runtime
    assert "aws-lambda-powertools" in extras_only and extras_only & set(IMAGE) == set()


def test_image_runs_the_versions_the_tests_ran() -> None:
    """The image lock is constrained by the dev lock: each of its entries is the dev lock's, hashes included."""
    assert {name: pin for name, pin in DEV.items() if name in IMAGE} == IMAGE


def test_locks_say_how_to_refresh_them() -> None:
    headers = [lock.read_text().splitlines()[1] for lock in (DEV_LOCK, IMAGE_LOCK)]
    assert headers == ["#    make lock"] * 2


def test_lock_tool_is_pinned_in_the_dev_extras() -> None:
    """`make lock` runs the uv that `make install` put in the venv, so every contributor resolves alike."""
    (uv,) = [r for r in _direct("dev") if r.name == "uv"]
    assert str(uv.specifier).startswith("==") and _unpinned(DEV, [uv]) == []


def test_make_install_installs_the_dev_lock_with_hashes_and_the_project_without_dependencies() -> None:
    recipe = (REPO / "Makefile").read_text().split("$(STAMP):", 1)[1].split("\n\n", 1)[0]
    assert ("--require-hashes -r $(DEV_LOCK)" in recipe
            and "--no-deps --no-build-isolation -e ." in recipe and "pip install --quiet -e" not in recipe)


def test_cdk_lib_owns_the_cloud_assembly_schema_it_ships() -> None:
    """aws-cdk-lib and its dependency aws-cdk.cloud-assembly-schema both ship this file; installing the lock
    in dependency order leaves aws-cdk-lib's (the other copy's jsii types make CDK synth fail)."""
    path = "aws_cdk/cloud_assembly_schema/__init__.py"
    lib = distribution("aws-cdk-lib")
    (recorded,) = [f for f in lib.files or () if str(f) == path]
    digest = base64.urlsafe_b64encode(hashlib.sha256(recorded.locate().read_bytes()).digest()).rstrip(b"=")
    assert recorded.hash is not None and f"{recorded.hash.mode}={digest.decode()}" == f"sha256={recorded.hash.value}"
