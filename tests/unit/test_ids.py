from __future__ import annotations

import time
import uuid

from app.shared.ids import uuid7, uuid_text


def test_uuid7_has_version_7_the_rfc_variant_and_the_current_time() -> None:
    before = time.time_ns() // 1_000_000
    value = uuid7()
    after = time.time_ns() // 1_000_000
    assert value.version == 7
    assert value.variant == uuid.RFC_4122
    assert before <= value.int >> 80 <= after


def test_uuid7_ids_are_unique_and_ordered_by_millisecond() -> None:
    ids = []
    for _ in range(3):
        ids += [uuid7() for _ in range(1000)]
        time.sleep(0.002)
    assert len(set(ids)) == len(ids)
    milliseconds = [i.int >> 80 for i in ids]
    assert milliseconds == sorted(milliseconds)
    assert ids[0] < ids[-1]


def test_the_text_of_an_id_is_the_uuid_modules() -> None:
    for value in (uuid.uuid4(), uuid7(), uuid.UUID(int=0), uuid.UUID(int=2**128 - 1)):
        assert uuid_text(value.int) == str(value)
