import pandas as pd
import pytest

from core.data.readers import read_bytes_table, read_table
from core.errors import DataReadError


@pytest.fixture
def frame():
    return pd.DataFrame({"a": [1, 2, 3], "b": ["x", "y", "z"], "c": [0.5, 1.5, 2.5]})


def test_reads_csv_and_parquet_alike(tmp_path, frame):
    frame.to_csv(tmp_path / "f.csv", index=False)
    frame.to_parquet(tmp_path / "f.parquet", index=False)
    pd.testing.assert_frame_equal(read_table(tmp_path / "f.csv"), frame)
    pd.testing.assert_frame_equal(read_table(tmp_path / "f.parquet"), frame)


def test_semicolon_separated_csv_is_sniffed(tmp_path, frame):
    frame.to_csv(tmp_path / "f.csv", index=False, sep=";")
    assert list(read_table(tmp_path / "f.csv").columns) == ["a", "b", "c"]


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("e.csv", b"", "file is empty"),
        ("w.csv", b"  \n\n", "file is empty"),
        ("h.csv", b"a,b,c\n", "header only"),
        ("g.csv", b"\x00\x01\x02garbage\xff", "binary content"),
        ("l.csv", "a,b\n1,Montréal\n".encode("latin-1"), "not UTF-8"),
        ("p.parquet", b"a,b\n1,2\n", "not a Parquet file"),
        ("c.parquet", b"PAR1" + b"\x00" * 64, "corrupt Parquet"),
        ("x.json", b"{}", "unsupported file type"),
        ("r.csv", b'a,b\n1,"unterminated\n', "not a well-formed CSV"),
    ],
)
def test_broken_files_raise_one_line_naming_the_file(tmp_path, name, content, message):
    (tmp_path / name).write_bytes(content)
    with pytest.raises(DataReadError) as exc:
        read_table(tmp_path / name)
    assert str(exc.value).startswith(name)
    assert message in str(exc.value)
    assert "\n" not in str(exc.value)


def test_parquet_named_csv_is_called_out(tmp_path, frame):
    frame.to_parquet(tmp_path / "x.csv", index=False)
    with pytest.raises(DataReadError, match="is a Parquet file, not CSV"):
        read_table(tmp_path / "x.csv")


def test_duplicated_header_row_reports_its_line(tmp_path):
    (tmp_path / "d.csv").write_text("a,b,c\n1,x,2\na,b,c\n3,y,4\n")
    with pytest.raises(DataReadError, match="duplicated header row at line 3"):
        read_table(tmp_path / "d.csv")


def test_upload_bytes_go_through_the_same_checks(frame):
    assert len(read_bytes_table(frame.to_csv(index=False).encode(), "up.csv")) == 3
    with pytest.raises(DataReadError, match="up.csv: file is empty"):
        read_bytes_table(b"", "up.csv")
