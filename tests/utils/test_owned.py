"""Output folders a tool may replace: new, empty, or its own previous output with force; never the source."""

import pytest

from yolo_ext.utils.owned import MARKER, OutputDirError, check_output_dir, read_marker, write_marker


def test_new_and_empty_folders_are_fine(tmp_path):
    check_output_dir(tmp_path / "new", "t")
    (tmp_path / "empty").mkdir()
    check_output_dir(tmp_path / "empty", "t")


def test_foreign_folder_is_refused_even_with_force(tmp_path):
    (tmp_path / "mine.txt").write_text("user data")
    for force in (False, True):
        with pytest.raises(OutputDirError, match=rf"{tmp_path} is not empty and is not an output of `t`"):
            check_output_dir(tmp_path, "t", force=force)
    write_marker(tmp_path, "other")
    with pytest.raises(OutputDirError, match="holds an output of `other`, not of `t`"):
        check_output_dir(tmp_path, "t", force=True)


def test_own_output_needs_force(tmp_path):
    write_marker(tmp_path, "t")
    (tmp_path / "x").write_text("1")
    with pytest.raises(OutputDirError, match="previous output of `t`; pass --force"):
        check_output_dir(tmp_path, "t")
    check_output_dir(tmp_path, "t", force=True)
    (tmp_path / "again").mkdir()
    assert read_marker(tmp_path)["tool"] == "t"
    assert (tmp_path / MARKER).read_bytes() == write_marker(tmp_path / "again", "t").read_bytes()  # deterministic


@pytest.mark.parametrize("rel, word", [(".", "is"), ("..", "is a parent of"), ("sub", "is inside")])
def test_out_equal_above_or_inside_the_source_is_refused(tmp_path, rel, word):
    src = tmp_path / "a" / "src"
    src.mkdir(parents=True)
    with pytest.raises(OutputDirError, match=rf"--out .* {word} --root .*src"):
        check_output_dir(src / rel, "t", force=True, source=src)
    check_output_dir(tmp_path / "a" / "other", "t", source=src)  # a sibling is fine


def test_a_file_is_not_an_output_folder(tmp_path):
    (tmp_path / "f").write_text("x")
    with pytest.raises(OutputDirError, match="not a folder"):
        check_output_dir(tmp_path / "f", "t")
