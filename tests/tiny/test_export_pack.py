"""`gossamer.tiny.export --pack ARCHIVE` packs an experiment where it is told, leaving the model
the package ships alone; a bare `--pack` still writes the shipped archive (the model card's recipe)."""

from __future__ import annotations

import lzma
import tarfile
from pathlib import Path

import pytest

from gossamer.tiny import export as export_module


@pytest.fixture
def fake_export(monkeypatch) -> None:
    """Exporting a real checkpoint writes 157 MB and packing it takes minutes: what is tested here is
    where the archive goes, so the export writes three small files instead."""

    def export(trainer_ckpt: Path, out_dir: Path) -> Path:
        out_dir.mkdir(parents=True, exist_ok=True)
        for name in export_module.CHECKPOINT_FILES:
            (out_dir / name).write_text(f"{name} of {trainer_ckpt.name}")
        return out_dir

    monkeypatch.setattr(export_module, "export", export)


def test_pack_to_a_path_leaves_the_shipped_model_alone(fake_export, tmp_path) -> None:
    shipped = export_module.ARCHIVE_PATH.read_bytes()
    archive = tmp_path / "exp" / "model.tar.xz"
    export_module.main(
        [str(tmp_path / "trainer.pt"), "--out", str(tmp_path / "model"), "--pack", str(archive)]
    )
    assert export_module.ARCHIVE_PATH.read_bytes() == shipped
    with tarfile.open(fileobj=lzma.open(archive)) as tar:
        assert tar.getnames() == list(export_module.CHECKPOINT_FILES)
        assert tar.extractfile("config.json").read() == b"config.json of trainer.pt"


def test_bare_pack_targets_the_shipped_archive(fake_export, tmp_path, monkeypatch) -> None:
    written: list[Path] = []
    monkeypatch.setattr(export_module, "pack", lambda model_dir, archive: written.append(archive))
    export_module.main([str(tmp_path / "trainer.pt"), "--out", str(tmp_path / "model"), "--pack"])
    assert written == [export_module.ARCHIVE_PATH]
    export_module.main([str(tmp_path / "trainer.pt"), "--out", str(tmp_path / "model")])
    assert written == [export_module.ARCHIVE_PATH]  # no --pack: nothing packed
