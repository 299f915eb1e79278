"""The id mark file: the number earlier versions read, the sequence it names, how exact it is."""

from __future__ import annotations

from pathlib import Path

from agentwatch.collector.idmark import IdMark, valid_sequence
from agentwatch.collector.store import Store


def earlier_reader(path: Path) -> int:
    """How earlier versions read the mark: the first 32 bytes, stripped, as a number."""
    return int(path.read_bytes()[:32].strip() or 0)


def test_a_new_mark_names_a_new_sequence_and_keeps_it_across_opens(tmp_path: Path) -> None:
    path = tmp_path / "s-ids"
    warnings: list[str] = []
    first = IdMark(str(path))
    assert first.open(warnings) == 0 and not first.continued and valid_sequence(first.sequence)
    first.write(42)
    first.close()
    again = IdMark(str(path))
    assert again.open(warnings) == 42
    assert (again.sequence, again.continued, again.exact_after) == (first.sequence, True, 0)
    again.close()
    assert warnings == [] and earlier_reader(path) == 42


def test_an_earlier_versions_mark_is_read_and_counts_up_to_it_are_bounds(tmp_path: Path) -> None:
    path = tmp_path / "s-ids"
    path.write_bytes(b"%20d\n" % 10_000)
    mark = IdMark(str(path))
    assert mark.open([]) == 10_000
    assert mark.continued and mark.exact_after == 10_000
    mark.close()
    assert earlier_reader(path) == 10_000


def test_a_mark_reserved_ahead_records_that_its_ids_are_not_exact(tmp_path: Path) -> None:
    path = tmp_path / "s-ids"
    mark = IdMark(str(path))
    mark.open([])
    mark.write(5)
    mark.write(1_005, reserved_ahead=True)
    mark.close()
    again = IdMark(str(path))
    assert again.open([]) == 1_005 and again.exact_after == 1_005
    again.close()


def test_the_store_records_every_id_handed_out_before_it_goes_out(tmp_path: Path) -> None:
    db = tmp_path / "s.db"
    store = Store(db)
    store.open()
    try:
        assert store.reserve_ids(3) == 3 and earlier_reader(Path(f"{db}-ids")) == 3
        assert store.reserve_ids(4) == 4 and earlier_reader(Path(f"{db}-ids")) == 4
    finally:
        store.close()
