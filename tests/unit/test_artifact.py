"""The artifact format: exact round trips of every engine, and files that must run nothing."""

from __future__ import annotations

import io
import json
import os
import pickle
import zipfile
from dataclasses import fields, is_dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import scipy.sparse as sp

from app.infrastructure.ml.artifact import (
    ModelArtifact,
    decode_artifact,
    encode_artifact,
    read_artifact,
    sha256_hex,
    write_artifact,
)
from app.infrastructure.ml.artifact_check import ArtifactCheck
from app.shared.exceptions import ChecksumMismatch, ModelUnavailable
from tests.fitted import QUERIES, fitted

T0 = datetime(2026, 11, 22, 3, 15, tzinfo=UTC)


class WritesMarker:
    """A pickle that runs code when loaded: it creates `marker`."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[object, tuple[object, ...]]:
        return (Path.write_text, (self.marker, "code ran"))


def make_artifact(engine: str = "user_knn", version: str = "v1", **overrides: Any) -> ModelArtifact:
    values: dict[str, Any] = {
        "version": version,
        "created_at": T0,
        "model": fitted(engine),
        "config": fitted(engine).config.as_dict(),
        "metrics": {"ndcg@10": 0.25},
        "data_stats": {"users": 7},
    }
    values.update(overrides)
    return ModelArtifact(**values)


def assert_same_state(loaded: object, original: object, where: str = "model") -> None:
    """Every attribute of every part equal: arrays element for element, sparse matrices too."""
    if isinstance(original, np.ndarray):
        assert isinstance(loaded, np.ndarray), where
        assert (loaded.dtype, loaded.shape) == (original.dtype, original.shape), where
        assert np.array_equal(loaded, original), where
    elif sp.issparse(original):
        matrix, expected = loaded, original
        assert isinstance(matrix, sp.sparray | sp.spmatrix), where
        assert isinstance(expected, sp.sparray | sp.spmatrix), where
        assert type(matrix) is type(expected), where
        assert (matrix.dtype, matrix.shape) == (expected.dtype, expected.shape), where
        assert (matrix != expected).nnz == 0, where
    elif is_dataclass(original):
        for item in fields(original):
            assert_same_state(
                getattr(loaded, item.name), getattr(original, item.name), f"{where}.{item.name}"
            )
    elif hasattr(original, "__dict__"):
        assert type(loaded) is type(original), where
        assert set(vars(loaded)) == set(vars(original)), where
        for name, value in vars(original).items():
            assert_same_state(getattr(loaded, name), value, f"{where}.{name}")
    else:
        assert loaded == original, where


@pytest.mark.parametrize("engine", ["user_knn", "ease"])
def test_every_engine_round_trips_exactly_and_ranks_the_same(engine: str, tmp_path: Path) -> None:
    path = tmp_path / "model_v1.npz"
    original = make_artifact(engine)
    loaded = read_artifact(path, write_artifact(original, path))
    assert (loaded.version, loaded.created_at, loaded.config) == ("v1", T0, original.config)
    assert (loaded.metrics, loaded.data_stats) == ({"ndcg@10": 0.25}, {"users": 7})
    assert_same_state(loaded.model, original.model)
    assert original.model.content_ is not None  # the content scorer, vocabulary and idf included
    for query in QUERIES:
        expected = original.model.recommend(query)
        assert expected
        assert loaded.model.recommend(query) == expected


def test_an_artifact_is_a_zip_of_json_and_arrays_and_its_hash_is_the_hash_of_the_file(tmp_path: Path) -> None:
    path = tmp_path / "model_v1.npz"
    sha256 = write_artifact(make_artifact(), path)
    assert sha256 == sha256_hex(path.read_bytes())
    with zipfile.ZipFile(path) as archive:
        names = archive.namelist()
        document = json.loads(archive.read("artifact.json"))
    assert document["format_version"] == 2
    assert document["model"]["kind"] == "knn_recommender"
    assert names[0] == "artifact.json"
    assert all(name.endswith(".npy") for name in names[1:])
    assert [p.name for p in tmp_path.iterdir()] == ["model_v1.npz"]
    assert path.stat().st_mode & 0o777 == 0o644  # readable by a service running as another user
    assert encode_artifact(make_artifact()) == path.read_bytes()  # the same model, the same bytes


def test_only_a_fitted_recommender_can_be_stored(tmp_path: Path) -> None:
    with pytest.raises(TypeError, match="cannot be stored"):
        write_artifact(make_artifact(model={"weights": [1, 2]}), tmp_path / "model_v1.npz")


def test_a_tampered_artifact_is_refused_with_both_hashes_in_the_message(tmp_path: Path) -> None:
    path = tmp_path / "model_v1.npz"
    sha256 = write_artifact(make_artifact(), path)
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.raises(ChecksumMismatch) as raised:
        read_artifact(path, sha256)
    message = str(raised.value)
    assert str(path) in message
    assert sha256 in message
    assert sha256_hex(path.read_bytes()) in message


@pytest.mark.parametrize("name", ["model_v1.pkl", "model_v1.npz"])
def test_a_code_running_pickle_with_the_registered_checksum_runs_nothing(name: str, tmp_path: Path) -> None:
    marker = tmp_path / "code-ran"
    path = tmp_path / name
    data = pickle.dumps({"format_version": 1, "version": "v1", "model": WritesMarker(marker)}, protocol=5)
    path.write_bytes(data)
    with pytest.raises(ModelUnavailable) as raised:
        read_artifact(path, sha256_hex(data))
    assert not marker.exists()
    message = str(raised.value)
    assert "pickle" in message
    assert "`ml-service train`" in message
    assert "\n" not in message
    pickle.loads(data)  # control: unpickled, the same bytes do run code
    assert marker.exists()


def test_an_array_of_pickled_objects_inside_an_artifact_runs_nothing(tmp_path: Path) -> None:
    marker = tmp_path / "code-ran"
    good = encode_artifact(make_artifact())
    buffer = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(good)) as source, zipfile.ZipFile(buffer, "w") as archive:
        for item in source.infolist():
            payload = source.read(item)
            if item.filename == "model/engine/neighbours.npy":
                objects = io.BytesIO()
                np.save(objects, np.array([WritesMarker(marker)], dtype=object), allow_pickle=True)
                payload = objects.getvalue()
            archive.writestr(item, payload)
    path = tmp_path / "model_v1.npz"
    path.write_bytes(buffer.getvalue())
    with pytest.raises(ModelUnavailable, match="not valid"):
        read_artifact(path, sha256_hex(buffer.getvalue()))
    assert not marker.exists()


def test_arrays_that_do_not_fit_the_model_are_refused_at_load() -> None:
    good = encode_artifact(make_artifact())
    buffer = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(good)) as source, zipfile.ZipFile(buffer, "w") as archive:
        for item in source.infolist():
            payload = source.read(item)
            if item.filename == "model/engine/normed.indices.npy":
                # A column index far outside the matrix: scipy would read out of bounds with it.
                indices = np.load(io.BytesIO(payload))
                indices[0] = 10_000
                out = io.BytesIO()
                np.save(out, indices)
                payload = out.getvalue()
            archive.writestr(item, payload)
    with pytest.raises(ModelUnavailable, match="not valid"):
        decode_artifact(buffer.getvalue(), Path("model_v1.npz"))


def test_a_missing_artifact_is_reported_as_model_unavailable(tmp_path: Path) -> None:
    with pytest.raises(ModelUnavailable, match="missing"):
        read_artifact(tmp_path / "gone.npz", "00" * 32)


def test_bytes_that_are_not_an_artifact_are_refused(tmp_path: Path) -> None:
    path = tmp_path / "model_v1.npz"
    path.write_bytes(b"definitely not an artifact")
    with pytest.raises(ModelUnavailable, match="not a model artifact"):
        read_artifact(path, sha256_hex(b"definitely not an artifact"))


def test_a_truncated_artifact_is_refused_in_one_line() -> None:
    data = encode_artifact(make_artifact())[:5000]
    with pytest.raises(ModelUnavailable, match="not valid") as raised:
        decode_artifact(data, Path("model_v1.npz"))
    assert "\n" not in str(raised.value)


def test_an_artifact_of_an_unknown_format_version_is_refused() -> None:
    data = encode_artifact(make_artifact(format_version=99))
    with pytest.raises(ModelUnavailable, match="format version 99"):
        decode_artifact(data, Path("model_v1.npz"))


# --- ArtifactCheck: re-verifying the served artifact ---------------------------------------


class CountingHash:
    def __init__(self) -> None:
        self.calls = 0

    def __call__(self, path: Path) -> str:
        self.calls += 1
        return sha256_hex(path.read_bytes())


class FakeMonotonic:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_the_served_artifact_is_rehashed_only_when_its_file_changed_or_the_interval_passed(
    tmp_path: Path,
) -> None:
    path = tmp_path / "model_v1.npz"
    sha256 = write_artifact(make_artifact(), path)
    hashes, clock = CountingHash(), FakeMonotonic()
    check = ArtifactCheck(rehash_after_seconds=600, monotonic=clock, sha256_of=hashes)
    check.verify(path, sha256)
    clock.now = 599
    check.verify(path, sha256)
    assert hashes.calls == 1  # unchanged: one stat, no read
    clock.now = 600
    check.verify(path, sha256)
    assert hashes.calls == 2  # the periodic full hash
    os.utime(path, ns=(10**18, 10**18))
    check.verify(path, sha256)
    assert hashes.calls == 3  # a touched file is read again


def test_a_changed_file_is_caught_even_with_its_size_and_modification_time_put_back(tmp_path: Path) -> None:
    path = tmp_path / "model_v1.npz"
    sha256 = write_artifact(make_artifact(), path)
    check = ArtifactCheck()
    check.verify(path, sha256)
    before = path.stat()
    data = bytearray(path.read_bytes())
    data[-100] ^= 0xFF
    with path.open("r+b") as handle:  # in place: same inode, same size
        handle.write(bytes(data))
    os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))
    with pytest.raises(ChecksumMismatch, match="changed on disk"):
        check.verify(path, sha256)


def test_a_vanished_artifact_is_reported_and_a_restored_one_passes(tmp_path: Path) -> None:
    path = tmp_path / "model_v1.npz"
    sha256 = write_artifact(make_artifact(), path)
    check = ArtifactCheck()
    check.verify(path, sha256)
    saved = path.read_bytes()
    path.unlink()
    with pytest.raises(ModelUnavailable, match="missing"):
        check.verify(path, sha256)
    path.write_bytes(saved)
    check.verify(path, sha256)
