"""Object storage and LanceDB on a real S3-protocol server (SeaweedFS) on loopback."""

from __future__ import annotations

from pathlib import Path

import pytest

from tellmemore.index import connection as lance
from tellmemore.settings import LanceSettings, S3Settings
from tellmemore.storage import ObjectStore, StorageError


def test_objects_round_trip(s3_settings: S3Settings, tmp_path: Path) -> None:
    store = ObjectStore(s3_settings)
    store.ensure_bucket()  # idempotent
    transcript = {"episode_id": "e1", "segments": [{"start_s": 0.0, "text": "Hello"}]}
    store.put_json("transcripts/e1.json", transcript)
    assert store.get_json("transcripts/e1.json") == transcript
    assert store.exists("transcripts/e1.json")
    audio = tmp_path / "a.mp3"
    audio.write_bytes(b"ID3" + bytes(4096))
    store.upload_file("audio/e1.mp3", audio, "audio/mpeg")
    back = tmp_path / "b.mp3"
    store.download_file("audio/e1.mp3", back)
    assert back.read_bytes() == audio.read_bytes()
    assert sorted(store.keys("audio/")) == ["audio/e1.mp3"]
    store.delete("audio/e1.mp3")
    store.delete("audio/e1.mp3")  # deleting twice is fine
    assert not store.exists("audio/e1.mp3")
    with pytest.raises(StorageError) as missing:
        store.get_json("transcripts/none.json")
    assert missing.value.code == "object_missing"


def test_wrong_credentials_and_dead_endpoint_are_typed_errors(s3_settings: S3Settings) -> None:
    wrong = s3_settings.model_copy(update={"access_key_id": "intruder"})
    with pytest.raises(StorageError) as denied:
        ObjectStore(wrong).get_json("transcripts/x.json")
    assert denied.value.code == "denied"
    dead = s3_settings.model_copy(
        update={"endpoint_url": "http://127.0.0.1:9", "connect_timeout_s": 0.5}
    )
    with pytest.raises(StorageError) as unreachable:
        ObjectStore(dead).exists("x")
    assert unreachable.value.code == "unreachable"


def test_lancedb_on_s3_merges_on_stable_ids(s3_settings: S3Settings) -> None:
    settings = LanceSettings(prefix="lance-test")
    db = lance.connect(settings, s3_settings)
    rows = [
        {"id": f"ep1:{i:05d}", "episode_id": "ep1", "text": f"passage {i}", "vector": [i, 1.0]}
        for i in range(5)
    ]
    table = db.create_table("segments", data=rows[:3], mode="overwrite")
    for _ in range(2):  # a rerun must not duplicate
        table.merge_insert("id").when_matched_update_all().when_not_matched_insert_all().execute(
            rows
        )
    assert table.count_rows() == 5
    # A fresh connection (another process, another day) sees the same table on S3.
    again = lance.connect(settings, s3_settings).open_table("segments")
    assert sorted(again.to_arrow().column("id").to_pylist()) == [r["id"] for r in rows]
    assert lance.lance_uri(settings, s3_settings) == f"s3://{s3_settings.bucket}/lance-test"


def test_lancedb_in_a_local_folder(tmp_path: Path, s3_settings: S3Settings) -> None:
    db = lance.connect(LanceSettings(location=str(tmp_path)), s3_settings)
    db.create_table("t", data=[{"id": "a", "vector": [0.0, 1.0]}])
    assert (tmp_path / "lance" / "t.lance").exists()
