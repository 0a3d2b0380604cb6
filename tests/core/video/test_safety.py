"""Path confinement of inputs."""

from __future__ import annotations

import os

import pytest

from core.video.errors import PathNotAllowedError
from core.video.safety import new_output_dir, resolve_inside, safe_component


@pytest.fixture()
def root(tmp_path):
    r = tmp_path / "media"
    (r / "sub").mkdir(parents=True)
    (r / "sub" / "v.mp4").write_bytes(b"x")
    (tmp_path / "secret.mp4").write_bytes(b"x")
    os.symlink(tmp_path / "secret.mp4", r / "escape.mp4")
    os.symlink(r / "sub" / "v.mp4", r / "inside.mp4")
    return r


def test_relative_and_absolute_inside_are_allowed(root):
    assert resolve_inside(root, "sub/v.mp4") == (root / "sub" / "v.mp4").resolve()
    assert resolve_inside(root, str(root / "sub" / "v.mp4")) == (root / "sub/v.mp4").resolve()
    assert resolve_inside(root, "inside.mp4") == (root / "sub" / "v.mp4").resolve()


@pytest.mark.parametrize(
    ("path", "message"),
    [
        ("../secret.mp4", r"\.\."),
        ("sub/../../secret.mp4", r"\.\."),
        ("/etc/passwd", "outside"),
        ("escape.mp4", "outside"),
        ("", "empty"),
        ("a\x00b", "invalid"),
    ],
)
def test_escapes_are_refused(root, path, message):
    with pytest.raises(PathNotAllowedError, match=message):
        resolve_inside(root, path)


def test_absolute_path_in_sibling_with_common_prefix_is_refused(root, tmp_path):
    sibling = tmp_path / "media2"
    sibling.mkdir()
    (sibling / "v.mp4").write_bytes(b"x")
    with pytest.raises(PathNotAllowedError):
        resolve_inside(root, str(sibling / "v.mp4"))


def test_output_dirs_are_fresh_and_confined(tmp_path):
    a, b = new_output_dir(tmp_path, "t1", "trim"), new_output_dir(tmp_path, "t1", "trim")
    assert a != b and a.is_dir() and a.parent == tmp_path / "t1" / "trim"
    assert new_output_dir(tmp_path, "..", "x").parent == tmp_path / "x"


@pytest.mark.parametrize(
    ("name", "safe"),
    [("default", "default"), ("acme/../x", "acme_.._x"), ("..", "_"), ("a b", "a_b")],
)
def test_safe_component(name, safe):
    assert safe_component(name) == safe


def test_inputs_may_be_the_tenants_own_outputs(tmp_path):
    from core.video.safety import MediaRoots, resolve_input

    roots = MediaRoots(media_root=tmp_path / "media", output_root=tmp_path / "out")
    (tmp_path / "media").mkdir()
    mine = tmp_path / "out" / "acme" / "run" / "v.mp4"
    theirs = tmp_path / "out" / "globex" / "run" / "v.mp4"
    for f in (mine, theirs):
        f.parent.mkdir(parents=True)
        f.write_bytes(b"x")
    os.symlink(theirs, mine.parent / "link.mp4")
    assert resolve_input(roots, str(mine), "acme") == mine.resolve()
    for bad in (str(theirs), str(mine.parent / "link.mp4"), "../out/acme/run/v.mp4"):
        with pytest.raises(PathNotAllowedError):
            resolve_input(roots, bad, "acme")
    with pytest.raises(PathNotAllowedError, match="output folder"):
        resolve_input(roots, str(theirs), "acme")

