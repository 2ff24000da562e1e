"""`promptbot models export`: a self-contained sentence-transformers directory.

The directory loads with plain ``SentenceTransformer(DIR)``; it also holds ``onnx/`` (the
serving export) and a model card section with the data counts, hyper-parameters and metrics
recorded for the version. ``--push-to-hub`` uploads it with huggingface_hub when a network and
a token are available, and fails with one clear line otherwise.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path

from retrieval.model_registry import ModelNotFoundError, resolve_model
from retrieval.onnx_export import export_onnx
from storage.database import Database
from storage.repositories.datasets import get_dataset
from storage.repositories.model_versions import get_version
from storage.settings import Settings


class ExportError(RuntimeError):
    pass


def _card_section(version_id: str | None, db: Database) -> str:
    if version_id is None:
        return ""
    with db.session() as session:
        version = get_version(session, version_id)
        if version is None:
            return ""
        dataset = get_dataset(session, version.dataset_id) if version.dataset_id else None
        facts = {
            "version": version.id,
            "label": version.label,
            "parent": version.parent_id,
            "status": version.status,
            "created_at": version.created_at.isoformat(),
            "training_data": dataset.counts if dataset else None,
            "hyperparameters": version.hyperparams,
            "metrics": {
                k: v.get("all", v) if isinstance(v, dict) else v for k, v in version.metrics.items()
            },
        }
    return (
        "\n\n## promptbot\n\nExported by `promptbot models export`.\n\n```json\n"
        + json.dumps(facts, indent=2, default=str)
        + "\n```\n"
    )


def export_model(
    db: Database, settings: Settings, ref: str, directory: Path, push_to_hub: str | None = None
) -> Path:
    if push_to_hub:
        check_push_possible()  # fail before the slow part
    try:
        model = resolve_model(ref, db)
    except (ModelNotFoundError, LookupError) as exc:
        raise ExportError(str(exc)) from exc
    if directory.exists() and any(directory.iterdir()):
        raise ExportError(f"{directory} exists and is not empty.")
    directory.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{directory.name}.", dir=directory.parent))
    try:
        staged = tmp / "model"
        shutil.copytree(model.path, staged, ignore=shutil.ignore_patterns(".*", "__pycache__"))
        export_onnx(model.path, staged / "onnx")
        card = staged / "README.md"
        text = card.read_text(encoding="utf-8") if card.exists() else f"# {model.label}\n"
        card.write_text(text + _card_section(model.version_id, db), encoding="utf-8")
        if directory.exists():
            directory.rmdir()
        os.replace(staged, directory)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    if push_to_hub:
        push(directory, push_to_hub)
    return directory


def check_push_possible() -> None:
    from huggingface_hub import get_token

    if os.environ.get("HF_HUB_OFFLINE") == "1" and not os.environ.get("PROMPTBOT_ALLOW_PUSH"):
        raise ExportError(
            "pushing needs the network: HF_HUB_OFFLINE=1 is set (set "
            "PROMPTBOT_ALLOW_PUSH=1 and HF_HUB_OFFLINE=0 to push)."
        )
    if not get_token():
        raise ExportError("no Hugging Face token: set HF_TOKEN or run `hf auth login`.")


def push(directory: Path, repo_id: str) -> None:
    from huggingface_hub import HfApi

    check_push_possible()
    try:
        api = HfApi()
        api.create_repo(repo_id, exist_ok=True)
        api.upload_folder(folder_path=str(directory), repo_id=repo_id)
    except Exception as exc:  # network errors come in many types; say it in one line
        raise ExportError(
            f"push to {repo_id} failed: {type(exc).__name__}: "
            f"{str(exc).splitlines()[0] if str(exc) else ''}"
        ) from exc
