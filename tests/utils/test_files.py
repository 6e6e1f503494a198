"""The one atomic-write helper: content, usual modes under a known umask, nothing left behind on error, whole swaps."""

import os
import stat

import pytest

from yolo_ext.utils.files import atomic_dir, atomic_path, atomic_write


@pytest.fixture(params=[0o022, 0o027, 0o002])
def umask(request):
    old = os.umask(request.param)
    yield request.param
    os.umask(old)


def mode(p):
    return stat.S_IMODE(os.stat(p).st_mode)


def test_atomic_write_content_and_parent(tmp_path):
    p = atomic_write(tmp_path / "a" / "b" / "x.json", '{"k": 1}')
    assert p == tmp_path / "a" / "b" / "x.json" and p.read_text() == '{"k": 1}'
    atomic_write(p, b"\x00\x01")
    assert p.read_bytes() == b"\x00\x01"
    assert sorted(os.listdir(p.parent)) == ["x.json"]


def test_files_and_dirs_get_the_usual_modes(tmp_path, umask):
    f = atomic_write(tmp_path / "f.json", "{}")
    assert mode(f) == 0o666 & ~umask
    with atomic_path(tmp_path / "g.png") as tmp:
        tmp.write_bytes(b"png")
    assert mode(tmp_path / "g.png") == 0o666 & ~umask
    with atomic_dir(tmp_path / "d") as tmp:
        (tmp / "sub").mkdir()
        (tmp / "sub" / "x.txt").write_text("x")
    assert mode(tmp_path / "d") == 0o777 & ~umask
    assert mode(tmp_path / "d" / "sub" / "x.txt") == 0o666 & ~umask


def test_replacing_an_existing_file_gives_the_new_file_the_usual_mode(tmp_path, umask):
    p = tmp_path / "x.txt"
    p.write_text("old")
    os.chmod(p, 0o600)
    atomic_write(p, "new")
    assert p.read_text() == "new" and mode(p) == 0o666 & ~umask


def test_atomic_path_starts_absent_in_the_target_folder(tmp_path):
    with atomic_path(tmp_path / "x.pt") as tmp:
        assert tmp.parent == tmp_path and not tmp.exists() and tmp.name.startswith(".x.pt.")
        tmp.write_bytes(b"1")
    assert (tmp_path / "x.pt").read_bytes() == b"1"


def test_atomic_path_error_leaves_target_and_no_temp(tmp_path):
    p = tmp_path / "x.txt"
    p.write_text("old")
    with pytest.raises(RuntimeError, match="boom"):
        with atomic_path(p) as tmp:
            tmp.write_text("half")
            raise RuntimeError("boom")
    assert p.read_text() == "old"
    assert os.listdir(tmp_path) == ["x.txt"]


def test_atomic_write_error_leaves_no_temp(tmp_path):
    with pytest.raises(TypeError):
        atomic_write(tmp_path / "x.txt", 123)  # not bytes / str
    assert os.listdir(tmp_path) == []


def test_atomic_path_writer_that_writes_nothing_leaves_target(tmp_path):
    p = tmp_path / "x.txt"
    p.write_text("old")
    with atomic_path(p):
        pass  # e.g. a writer that skips an invalid input
    with atomic_path(tmp_path / "never.txt"):
        pass
    assert p.read_text() == "old" and os.listdir(tmp_path) == ["x.txt"]


def test_atomic_dir_swaps_an_existing_tree_whole(tmp_path):
    out = tmp_path / "tree"
    (out / "old_only").mkdir(parents=True)
    (out / "shared.txt").write_text("old")
    with atomic_dir(out) as tmp:
        assert tmp.parent == tmp_path and tmp.is_dir() and not any(tmp.iterdir())
        assert (out / "shared.txt").read_text() == "old"  # readers still see the old tree while the new one builds
        (tmp / "shared.txt").write_text("new")
        (tmp / "new_only.txt").write_text("n")
    assert sorted(os.listdir(out)) == ["new_only.txt", "shared.txt"] and (out / "shared.txt").read_text() == "new"
    assert os.listdir(tmp_path) == ["tree"]  # neither the build nor the old tree is left


def test_atomic_dir_error_keeps_old_tree_and_removes_temp(tmp_path):
    out = tmp_path / "tree"
    out.mkdir()
    (out / "a.txt").write_text("old")
    with pytest.raises(KeyboardInterrupt):
        with atomic_dir(out) as tmp:
            (tmp / "a.txt").write_text("half")
            raise KeyboardInterrupt
    assert os.listdir(out) == ["a.txt"] and (out / "a.txt").read_text() == "old"
    assert os.listdir(tmp_path) == ["tree"]


def test_atomic_dir_keep_existing_keeps_a_finished_concurrent_build(tmp_path):
    out = tmp_path / "cache"
    with atomic_dir(out, keep_existing=True) as tmp:
        (tmp / "v").write_text("first")
    with atomic_dir(out, keep_existing=True) as tmp:
        (tmp / "v").write_text("second")
    assert (out / "v").read_text() == "first" and os.listdir(tmp_path) == ["cache"]
