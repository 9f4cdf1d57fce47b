"""`DataDir.clean_temporary`: what killed runs leave behind goes, real files stay, and a swap
of rebuilt tables that a crash interrupted is finished (or the old tables put back)."""

from __future__ import annotations

from pathlib import Path

import pytest

from bsg_analytics.storage import DataDir


def files(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())


def put(root: Path, rel: str, data: bytes = b"x") -> Path:
    path = root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


PAGE = "raw/messages/2026-11-20/20261120T100000Z-abcdef/w1/000000"
REAL = [
    f"{PAGE}.json.zst",
    f"{PAGE}.meta.json",
    f"{PAGE[:-1]}1.json.gz",  # a page an older version landed
    f"{PAGE[:-1]}1.meta.json",
    "parquet/messages/created_date=2026-11-01/data.parquet",
    "parquet/campaigns/created_month=2026-11/data.parquet",
    "state/sync.json",
    "state/sync.lock",
    "state/runs/20261120T100000Z-abcdef.json",
    "warehouse.duckdb",
]
JUNK = [
    "raw/messages/2026-11-20/20261120T100000Z-abcdef/w1/.tmp-0123456789abcdef",
    "raw/campaigns/2026-11-20/20261120T100000Z-abcdef/g/.tmp-fedcba",
    "state/.tmp-aaaa",
    "state/runs/.tmp-bbbb",
    "state/.probe-cccc",
    ".tmp-dddd",
    "staging/0f1e2d.partial",
    "staging/other-leftover",
    "staging/nested/deeper.partial",
    "parquet.rebuild-0badc0ffee00/messages/created_date=2026-11-01/data.parquet",
    "parquet.rebuild-0badc0ffee00/quarantine/extracted_date=2026-11-20/data.parquet",
    "parquet.old-123456789abc/messages/data.parquet",
]


def test_leftovers_go_and_real_files_stay(tmp_path):
    root = tmp_path / "d"
    for rel in REAL:
        put(root, rel, b"real " + rel.encode())
    for rel in JUNK:
        put(root, rel)
    d = DataDir(root)
    assert d.clean_temporary() == len(JUNK)
    assert files(root) == sorted(REAL)
    assert all((root / rel).read_bytes() == b"real " + rel.encode() for rel in REAL)
    assert (root / "staging").is_dir()  # the folder stays, empty
    assert sorted(p.name for p in root.iterdir() if p.name.startswith("parquet")) == ["parquet"]
    assert d.clean_temporary() == 0  # nothing left


def test_nothing_to_clean_in_an_empty_or_missing_directory(tmp_path):
    assert DataDir(tmp_path / "missing").clean_temporary() == 0
    assert not (tmp_path / "missing").exists()
    (tmp_path / "empty").mkdir()
    assert DataDir(tmp_path / "empty").clean_temporary() == 0


def _tables(root: Path, name: str) -> dict[str, bytes]:
    base = root / name
    return {str(p.relative_to(base)): p.read_bytes() for p in base.rglob("*") if p.is_file()}


OLD = {"messages/created_date=2026-11-01/data.parquet": b"old m", "legacy_sms/data.parquet": b"l"}
NEW = {"messages/created_date=2026-11-01/data.parquet": b"new m", "campaigns/data.parquet": b"c"}


def _layout(root: Path, *, parquet=None, old=None, build=None, marker=False) -> None:
    for name, tree in (
        ("parquet", parquet),
        ("parquet.old-abc", old),
        ("parquet.rebuild-abc", build),
    ):
        for rel, data in (tree or {}).items():
            put(root, f"{name}/{rel}", data)
    if marker:
        put(root, "parquet.rebuild-abc.ready", b"")


@pytest.mark.parametrize(
    "state, want",
    [
        # killed while building: the half-built tables go, the old ones stay
        (dict(parquet=OLD, build=NEW), OLD),
        # killed once the build was complete (marker written), before the first rename
        (dict(parquet=OLD, build=NEW, marker=True), NEW),
        # killed between the two renames: D/parquet missing, the build complete
        (dict(old=OLD, build=NEW, marker=True), NEW),
        # killed after the second rename: the new tables in place, the old not yet deleted
        (dict(parquet=NEW, old=OLD, marker=True), NEW),
        # killed while deleting the old tables (marker already gone)
        (dict(parquet=NEW, old={"legacy_sms/data.parquet": b"l"}), NEW),
        # D/parquet missing with only the old tables aside: they are put back
        (dict(old=OLD), OLD),
        # a fresh directory whose first rebuild was killed half-way: no tables at all
        (dict(build=NEW), {}),
    ],
    ids=[
        "building",
        "complete",
        "between-renames",
        "after-renames",
        "deleting-old",
        "old-only",
        "first-build",
    ],
)
def test_a_crash_in_a_rebuild_is_repaired(tmp_path, state, want):
    root = tmp_path / "d"
    root.mkdir()
    _layout(root, **state)
    DataDir(root).clean_temporary()
    assert _tables(root, "parquet") == want
    assert sorted(p.name for p in root.iterdir()) == (["parquet"] if want else [])


def test_swap_in_replaces_the_tables(tmp_path):
    root = tmp_path / "d"
    _layout(root, parquet=OLD)
    d = DataDir(root)
    build = d.new_rebuild_root()
    for rel, data in NEW.items():
        put(root, f"{build}/{rel}", data)
    d.swap_in(build)
    assert _tables(root, "parquet") == NEW
    assert sorted(p.name for p in root.iterdir()) == ["parquet"]
    with pytest.raises(ValueError):
        d.swap_in("parquet")  # only a rebuild root can be swapped in


def test_on_an_object_store_clean_temporary_only_lists_the_top(monkeypatch):
    """No temporary files on an object store (PUTs are atomic): one listing, nothing removed."""
    import fsspec

    fs = fsspec.filesystem("memory")
    d = DataDir("memory://bucket/d")
    fs.pipe_file("/bucket/d/state/sync.json", b"{}")
    fs.pipe_file("/bucket/d/raw/messages/x/.tmp-abc", b"x")  # cannot happen there; kept
    calls = []
    real_ls = d.fs.ls
    monkeypatch.setattr(d.fs, "ls", lambda *a, **kw: calls.append(a) or real_ls(*a, **kw))
    assert d.clean_temporary() == 0
    assert len(calls) == 1
    assert fs.exists("/bucket/d/raw/messages/x/.tmp-abc")
