"""Model management: the checkpoint registry, the models folder, checking, importing and downloading.

Nothing here imports torch until a load check is asked for (``verify.check_loadable``).
"""

from avatarify_app.modelstore.choices import resolve_files
from avatarify_app.modelstore.fetch import DownloadError, FetchResult, fetch_model
from avatarify_app.modelstore.fomm import (
    DEFAULT_CHECKPOINTS,
    converted_models_dir,
    fomm_files,
    identify_checkpoint,
    resolve_checkpoint,
    resolve_config,
)
from avatarify_app.modelstore.importer import ImportResult, Verdict, import_checkpoint
from avatarify_app.modelstore.registry import (
    MODELS_DIR_ENV,
    ModelEntry,
    RegistryError,
    default_models_dir,
    default_registry_path,
    disk_error,
    find_entry,
    load_registry,
)
from avatarify_app.modelstore.verify import ModelStatus, check_loadable, file_md5, inspect_model

__all__ = [
    "DEFAULT_CHECKPOINTS",
    "MODELS_DIR_ENV",
    "DownloadError",
    "FetchResult",
    "ImportResult",
    "ModelEntry",
    "ModelStatus",
    "RegistryError",
    "Verdict",
    "check_loadable",
    "converted_models_dir",
    "default_models_dir",
    "default_registry_path",
    "disk_error",
    "fetch_model",
    "fomm_files",
    "file_md5",
    "find_entry",
    "identify_checkpoint",
    "import_checkpoint",
    "inspect_model",
    "load_registry",
    "resolve_checkpoint",
    "resolve_config",
    "resolve_files",
]
