"""Uploaded files on disk: for one request, or kept between an import's upload and mapping steps."""

from __future__ import annotations

import json
import secrets
import shutil
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from werkzeug.datastructures import FileStorage
from werkzeug.utils import secure_filename

MAX_AGE_S = 24 * 3600


@contextmanager
def temporary_upload(file: FileStorage, folder: Path) -> Iterator[Path]:
    """The uploaded file saved in ``folder`` (keeping its extension) until the block ends."""
    folder.mkdir(parents=True, exist_ok=True)
    suffix = Path(secure_filename(file.filename or "")).suffix.lower()
    with tempfile.NamedTemporaryFile(dir=folder, suffix=suffix) as saved:
        file.save(saved.name)
        yield Path(saved.name)


@dataclass(frozen=True)
class Upload:
    id: str
    path: Path
    filename: str
    """The name the user's file had (for messages and the list's default name)."""
    owner_id: int


class UploadFolders:
    """A folder per upload under ``root``, named by an unguessable id and tied to its owner."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def save(self, file: FileStorage, owner_id: int) -> Upload:
        self._forget_stale()
        upload_id = secrets.token_urlsafe(16)
        folder = self.root / upload_id
        folder.mkdir(parents=True)
        filename = file.filename or "upload"
        # Keep the extension (it selects the reader); the stored name never comes from the user.
        path = folder / ("file" + Path(secure_filename(filename)).suffix.lower())
        file.save(path)
        meta = {"filename": filename, "owner_id": owner_id}
        (folder / "meta.json").write_text(json.dumps(meta, ensure_ascii=False))
        return Upload(upload_id, path, filename, owner_id)

    def get(self, upload_id: str, owner_id: int) -> Upload | None:
        """The upload, if it exists and belongs to ``owner_id``."""
        if not upload_id.replace("-", "").replace("_", "").isalnum():
            return None
        folder = self.root / upload_id
        try:
            meta = json.loads((folder / "meta.json").read_text())
        except (OSError, ValueError):
            return None
        files = [p for p in folder.iterdir() if p.name.startswith("file")]
        if meta.get("owner_id") != owner_id or not files:
            return None
        return Upload(upload_id, files[0], meta["filename"], owner_id)

    def discard(self, upload: Upload) -> None:
        shutil.rmtree(upload.path.parent, ignore_errors=True)

    def _forget_stale(self) -> None:
        if not self.root.is_dir():
            return
        cutoff = time.time() - MAX_AGE_S
        for folder in self.root.iterdir():
            if folder.is_dir() and folder.stat().st_mtime < cutoff:
                shutil.rmtree(folder, ignore_errors=True)
