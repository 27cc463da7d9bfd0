"""``atomic_write``: the whole file or the previous one, never a half; permissions as ``open()``."""

import os
import stat

import pytest

from paperscope.core.files import atomic_write


def test_writes_bytes_text_or_through_a_writer(tmp_path):
    assert atomic_write(tmp_path / "new" / "a.bin", b"\x00\x01").read_bytes() == b"\x00\x01"
    assert atomic_write(tmp_path / "b.txt", "é").read_text(encoding="utf-8") == "é"
    assert atomic_write(tmp_path / "c.txt", lambda path: path.write_text("via path")).read_text() == "via path"
    mask = os.umask(0)
    os.umask(mask)
    assert stat.S_IMODE((tmp_path / "c.txt").stat().st_mode) == 0o666 & ~mask  # not mkstemp's 0o600


def test_a_failed_write_keeps_the_old_file_and_leaves_no_temporary(tmp_path):
    target = atomic_write(tmp_path / "table.csv", "old")

    def half(path):
        path.write_text("ne")
        raise RuntimeError("disk full")

    with pytest.raises(RuntimeError):
        atomic_write(target, half)
    assert target.read_text() == "old" and os.listdir(tmp_path) == ["table.csv"]
