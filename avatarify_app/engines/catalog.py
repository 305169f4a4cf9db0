"""The engine catalog: one record per engine, and the *choice* records that say how to build one.

Everything outside ``engines/`` learns what engines exist from here: the window's engine picker, its
quality menu and file button, the CLI's ``--engine`` choices and engine flags, ``doctor`` and the
settings file. This module imports no model code: an engine's own module (and torch with it) is
imported by its factory, only when that engine is built.

Adding an engine: its package under ``engines/``, a frozen ``EngineChoice`` subclass with the fields
its constructor needs (each field's ``option(...)`` metadata gives its command-line flag), a small
factory, and one ``EngineInfo`` in ``_BUILT_IN`` below. See docs/architecture.md, "Adding an engine".

    info = get("fomm")                      # EngineInfo: label, tip, needs, precisions...
    choice = FommChoice(checkpoint=Path("vox-adv-cpk.pth.tar"), precision="fp32")
    engine = create_engine(choice, EngineOptions(size=256))
"""

from __future__ import annotations

import dataclasses
import enum
import math
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

from avatarify_app.config import FOMM_BACKENDS, FOMM_PRECISIONS, EngineOptions
from avatarify_app.engines.base import Engine
from avatarify_app.errors import InputError

DEFAULT_ENGINE = "mesh"


class Needs(enum.Enum):
    """What an engine is built from, besides the avatar. An engine that needs files names them in its
    choice's ``checkpoint`` field (None: the model store's default, if any)."""

    NOTHING = "nothing"
    FILE = "file"  # one checkpoint file
    FOLDER = "folder"  # a folder of weight files
    FORM = "form"  # the fields with a ``label`` (an address, a token): the window asks for them


def option(
    flag: str,
    help: str,
    *,
    default: Any = None,
    choices: tuple[str, ...] | None = None,
    metavar: str | None = None,
    label: str | None = None,
    secret: bool = False,
) -> Any:
    """A choice field with its command-line flag: ``checkpoint: Path | None = option("--checkpoint",
    "...")``. ``choices`` limits a text field to these values (checked by ``make_choice``). ``label``:
    the window asks for this field in the engine's form (``Needs.FORM``). ``secret``: a password or
    token, which the settings keep where the OS keeps secrets when it can, and no log shows.

    Field types: text, whole or decimal numbers, on/off (a flag without a value on the command
    line), a path, or a tuple of texts (a flag given several times)."""
    metadata = {
        "flag": flag,
        "help": help,
        "choices": choices,
        "metavar": metavar,
        "label": label,
        "secret": secret,
    }
    return field(default=default, metadata=metadata, repr=not secret)  # a secret never reaches a log


@dataclass(frozen=True, slots=True)
class EngineChoice:
    """Which engine to build, and from what: a frozen value the settings, the commands and the events
    carry. Each engine subclasses it with the fields its constructor needs; field values are text,
    numbers, on/off values or paths (or None), so the settings file can store them."""

    engine: ClassVar[str] = ""

    @property
    def name(self) -> str:
        """The catalog name of the engine this choice builds."""
        return self.engine


@dataclass(frozen=True, slots=True)
class EngineContext:
    """What the app lends an engine being built: ``cache_dir`` for models converted for this computer,
    ``progress`` for the sentences shown while a first use prepares a model. ``offline``: a file
    drives it frame by frame (``render``), so an engine with frames in flight answers each frame
    before the next instead of showing the newest answer."""

    cache_dir: Path | None = None
    progress: Callable[[str], None] | None = None
    offline: bool = False


EngineFactory = Callable[[Any, EngineOptions, EngineContext], Engine]


@dataclass(frozen=True, slots=True)
class EngineInfo:
    """One engine, as the app presents it.

    ``label``: the picker's entry; ``tip``: one line on what it does and how fast it is (the picker's
    tooltip, ``doctor``, ``--engine``'s help); ``needs``: nothing, one file or a folder (the window's
    file button; ``file_filter`` for its dialog); ``precisions``: the values of the choice's
    ``precision`` field, with ``precision_labels`` for the window's quality menu (empty: no menu);
    ``choice``: the engine's choice record type; ``factory(choice, options, context)`` builds it.
    ``selected_by``: a choice field whose flag alone picks this engine on a command line (``--remote
    HOST:PORT`` without ``--engine``). ``local``: it runs on this computer (a worker may serve it).
    """

    name: str
    label: str
    tip: str
    choice: type[EngineChoice]
    factory: EngineFactory
    needs: Needs = Needs.NOTHING
    file_filter: str = "All files (*)"
    precisions: tuple[str, ...] = ()
    precision_labels: Mapping[str, str] = field(default_factory=dict)
    selected_by: str | None = None
    local: bool = True

    @property
    def short_label(self) -> str:
        """The label without its parenthesis ("FOMM (neural)" -> "FOMM"), for "FOMM on CPU"."""
        return self.label.split(" (")[0]


# -- the built-in engines ---------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class MeshChoice(EngineChoice):
    """The mesh warp: built from nothing."""

    engine: ClassVar[str] = "mesh"


@dataclass(frozen=True, slots=True)
class FommChoice(EngineChoice):
    """The First Order Motion Model: a vox checkpoint (None: the one in the models folder), its
    config, and the runtime (``engines.fomm.runtime.choose_runtime``)."""

    engine: ClassVar[str] = "fomm"
    checkpoint: Path | None = option(
        "--checkpoint", "fomm: the checkpoint file (default: the one in the models folder)", metavar="PATH"
    )
    config: Path | None = option("--config", "fomm: the model config YAML", metavar="YAML")
    backend: str = option(
        "--backend",
        "fomm runtime: auto (CUDA if present, else OpenVINO on the CPU), torch or openvino",
        default="auto",
        choices=FOMM_BACKENDS,
    )
    precision: str = option(
        "--precision",
        "fomm precision: auto (faithful to fp32: fp32, or the decoder in bf16 on CPUs with bf16; fp16 "
        "on a GPU), fp32, fp16 (GPU), bf16 or int8 (faster on a CPU, less faithful: docs/fomm.md)",
        default="auto",
        choices=FOMM_PRECISIONS,
    )


@dataclass(frozen=True, slots=True)
class LivePortraitChoice(EngineChoice):
    """LivePortrait (docs/liveportrait.md): its folder of five weight files (None: the one in the
    models folder), the runtime and precision, stitching and the eye retargeting."""

    engine: ClassVar[str] = "liveportrait"
    checkpoint: Path | None = option(
        "--checkpoint",
        "liveportrait: the folder of its five weight files (default: <models>/liveportrait)",
        metavar="PATH",
    )
    backend: str = option(
        "--backend",
        "liveportrait runtime: auto (cuda-graphs on a CUDA GPU, else torch), torch, cuda-graphs (CUDA) "
        "or openvino (CPU)",
        default="auto", choices=("auto", "torch", "cuda-graphs", "openvino"),
    )  # fmt: skip
    precision: str = option(
        "--precision", "liveportrait precision: auto (fp16 on a GPU, else fp32), fp32 or fp16 (GPU)",
        default="auto", choices=("auto", "fp32", "fp16"),
    )  # fmt: skip
    stitching: bool = option(
        "--no-stitching", "liveportrait: no stitching (the face may drift from the shoulders)", default=True
    )
    eye_retargeting: bool = option(
        "--eye-retargeting", "liveportrait: drive the eyelids from the driver's eye opening", default=False
    )


@dataclass(frozen=True, slots=True)
class RemoteChoice(EngineChoice):
    """An ``avatarify serve`` worker on another machine (docs/remote.md): its address, token and
    certificate fingerprint (all three printed by the worker), and NAT traversal."""

    engine: ClassVar[str] = "remote"
    remote: str | None = option(
        "--remote",
        "remote: the worker's address, as avatarify serve prints it (picks the remote engine)",
        metavar="HOST:PORT",
        label="Worker address",
    )
    token: str | None = option(
        "--token", "remote: the worker's token", metavar="TOKEN", label="Token", secret=True
    )
    fingerprint: str | None = option(
        "--fingerprint",
        "remote: the worker's certificate fingerprint (the client trusts that certificate only)",
        metavar="HEX",
        label="Fingerprint",
    )
    stun: tuple[str, ...] = option(
        "--stun", "remote: a STUN server, stun:HOST:PORT", default=(), metavar="URL"
    )
    turn: tuple[str, ...] = option(
        "--turn", "remote: a TURN relay, turn:HOST:PORT (both sides behind NAT)", default=(), metavar="URL"
    )
    turn_user: str | None = option("--turn-user", "remote: the TURN user name", metavar="U")
    turn_password: str | None = option(
        "--turn-password", "remote: the TURN password", metavar="P", secret=True
    )
    relay_only: bool = option("--relay-only", "remote: connect through the TURN relay only", default=False)


def _mesh(choice: MeshChoice, options: EngineOptions, context: EngineContext) -> Engine:
    from avatarify_app.engines.mesh import MeshEngine

    return MeshEngine(options)


def _fomm(choice: FommChoice, options: EngineOptions, context: EngineContext) -> Engine:
    from avatarify_app.engines.fomm import FommEngine
    from avatarify_app.errors import CheckpointError

    if choice.checkpoint is None:
        raise CheckpointError("the fomm engine needs a checkpoint: pass --checkpoint PATH")
    return FommEngine(
        options,
        checkpoint=choice.checkpoint,
        config=choice.config,
        backend=choice.backend,
        precision=choice.precision,
        cache_dir=context.cache_dir,
        progress=context.progress,
    )


def _liveportrait(choice: LivePortraitChoice, options: EngineOptions, context: EngineContext) -> Engine:
    from avatarify_app.engines.liveportrait.engine import LivePortraitEngine
    from avatarify_app.errors import CheckpointError

    if choice.checkpoint is None:
        raise CheckpointError("the liveportrait engine needs its weights folder: pass --checkpoint FOLDER")
    return LivePortraitEngine(
        options,
        checkpoint=choice.checkpoint,
        backend=choice.backend,
        precision=choice.precision,
        stitching=choice.stitching,
        eye_retargeting=choice.eye_retargeting,
        progress=context.progress,
        cache_dir=context.cache_dir,
    )


def _remote(choice: RemoteChoice, options: EngineOptions, context: EngineContext) -> Engine:
    from avatarify_app.engines.remote import IceSettings, RemoteEngine

    if not choice.remote:
        raise InputError(
            "the remote engine needs the worker's address: --remote HOST:PORT (avatarify serve prints it)"
        )
    ice = IceSettings(
        stun=choice.stun,
        turn=choice.turn,
        turn_user=choice.turn_user,
        turn_password=choice.turn_password,
        relay_only=choice.relay_only,
    )
    return RemoteEngine(
        options, choice.remote, choice.token, choice.fingerprint or "", ice, lockstep=context.offline
    )


_BUILT_IN = (
    EngineInfo(
        name="mesh",
        label="Mesh warp (fast)",
        tip="Warps the avatar's face mesh: real time on any CPU, no files needed",
        choice=MeshChoice,
        factory=_mesh,
    ),
    EngineInfo(
        name="fomm",
        label="FOMM (neural)",
        tip="First Order Motion Model: needs a checkpoint file (Checkpoint…); real time on an NVIDIA GPU, "
        "a few frames a second on a laptop CPU",
        choice=FommChoice,
        factory=_fomm,
        needs=Needs.FILE,
        file_filter="FOMM checkpoints (*.pth.tar *.tar *.pth);;All files (*)",
        precisions=FOMM_PRECISIONS,
        # Measured on the shared driving clip against torch fp32 (bench/fomm_engine.py, docs/fomm.md);
        # a precision the CPU does not run natively falls back to fp32, with a message.
        precision_labels={
            "auto": "Automatic (faithful)",
            "fp32": "Best quality (fp32)",
            "bf16": "Fast (bf16: keypoints off ~0.9 px, 35 dB)",
            "int8": "Fast (int8: 32 dB from fp32)",
        },
    ),
    EngineInfo(
        name="liveportrait",
        label="LivePortrait (neural, 512)",
        tip="LivePortrait: needs its folder of five weight files (Checkpoint…); head turns and 512x512 "
        "frames, real time on an NVIDIA GPU, seconds a frame on a laptop CPU",
        choice=LivePortraitChoice,
        factory=_liveportrait,
        needs=Needs.FOLDER,
        precisions=("auto", "fp32", "fp16"),
        precision_labels={"auto": "Automatic", "fp32": "Best quality (fp32)", "fp16": "Fast (fp16, GPU)"},
    ),
    EngineInfo(
        name="remote",
        label="Remote engine (GPU worker)",
        tip="Runs the engine on another machine (avatarify serve on a GPU): real time without a GPU here; "
        "needs the worker's address, token and fingerprint",
        choice=RemoteChoice,
        factory=_remote,
        needs=Needs.FORM,
        selected_by="remote",
        local=False,
    ),
)
# The engine a worker (``avatarify serve``) runs when none is named: the neural one, which a laptop
# cannot run in real time.
DEFAULT_WORKER_ENGINE = "fomm"
_CATALOG: dict[str, EngineInfo] = {info.name: info for info in _BUILT_IN}


# -- looking engines up -----------------------------------------------------------------------------
def entries() -> tuple[EngineInfo, ...]:
    """Every engine, the default first."""
    return tuple(_CATALOG.values())


def names() -> tuple[str, ...]:
    return tuple(_CATALOG)


def get(name: str) -> EngineInfo:
    """The engine called ``name``; ``InputError`` naming the engines there are for any other name."""
    try:
        return _CATALOG[name]
    except KeyError:
        raise InputError(f"unknown engine {name!r}: choose one of {', '.join(_CATALOG)}") from None


def is_secret(f: dataclasses.Field) -> bool:
    """Whether a choice field holds a password or token (``option(secret=True)``)."""
    return bool(f.metadata.get("secret"))


def info_for(choice: EngineChoice) -> EngineInfo:
    return get(choice.name)


def default_choice() -> EngineChoice:
    """The engine the app uses when none is chosen (or a saved one cannot be used)."""
    return get(DEFAULT_ENGINE).choice()


def register(info: EngineInfo) -> None:
    """Add an engine at run time (a plug-in, a test's toy engine). ``ValueError`` if the name is taken."""
    if info.name in _CATALOG:
        raise ValueError(f"an engine called {info.name!r} is already in the catalog")
    if info.choice.engine != info.name:
        raise ValueError(f"{info.choice.__name__}.engine is {info.choice.engine!r}, not {info.name!r}")
    _CATALOG[info.name] = info


def unregister(name: str) -> None:
    if name == DEFAULT_ENGINE:
        raise ValueError("the default engine cannot be removed")
    _CATALOG.pop(name, None)


@contextmanager
def registered(info: EngineInfo) -> Iterator[EngineInfo]:
    """``register(info)`` for the duration of a ``with`` block."""
    register(info)
    try:
        yield info
    finally:
        unregister(info.name)


def create_engine(
    choice: EngineChoice, options: EngineOptions | None = None, context: EngineContext | None = None
) -> Engine:
    """Build the engine ``choice`` names. Raises ``InputError`` for an unknown engine or a bad option,
    ``CheckpointError`` for a missing or bad checkpoint."""
    return info_for(choice).factory(choice, options or EngineOptions(), context or EngineContext())


# -- choices from text (command lines, the settings file) ------------------------------------------
def choice_fields(kind: type[EngineChoice]) -> tuple[dataclasses.Field, ...]:
    return dataclasses.fields(kind)


def make_choice(name: str, values: Mapping[str, object], *, existing_files: bool = False) -> EngineChoice:
    """The choice for engine ``name`` from ``values`` (field name -> value or text; missing or None:
    the field's default). Text is converted to the field's type; a text field with ``choices`` must be
    one of them. ``existing_files``: a path that does not exist is refused too (a saved setting).

    Raises ``InputError`` with one line naming the engine, the field and what was wrong.
    """
    kind = get(name).choice
    given: dict[str, Any] = {}
    for f in choice_fields(kind):
        value = values.get(f.name)
        if value is None or value == "":
            continue
        given[f.name] = _convert(name, f, value, existing_files)
    return kind(**given)


def choice_as_text(choice: EngineChoice) -> dict[str, str]:
    """Each field of ``choice`` as text ("" for None), for the settings file (``make_choice`` reads it)."""
    out = {}
    for f in choice_fields(type(choice)):
        value = getattr(choice, f.name)
        out[f.name] = "" if value is None else " ".join(value) if isinstance(value, tuple) else str(value)
    return out


def _convert(engine: str, f: dataclasses.Field, value: object, existing_files: bool) -> Any:
    kind = str(f.type)
    what = f"the {engine} engine's {f.name}"
    if "tuple" in kind:
        items = value if isinstance(value, list | tuple) else str(value).split()
        return tuple(str(item) for item in items)
    if "Path" in kind:
        path = Path(str(value))
        if existing_files and not path.exists():
            raise InputError(f"{what}: {path} no longer exists")
        return path
    if "bool" in kind:
        if isinstance(value, bool):
            return value
        return str(value).strip().lower() in ("1", "true", "yes", "on")
    if "float" in kind or "int" in kind:
        try:
            number = float(str(value))
        except ValueError:
            raise InputError(f"{what}: {value!r} is not a number") from None
        if not math.isfinite(number):
            raise InputError(f"{what}: {value!r} is not a finite number")
        return int(number) if "int" in kind and "float" not in kind else number
    text = str(value)
    choices = f.metadata.get("choices")
    if choices and text not in choices:
        raise InputError(f"{what}: {text!r} is not one of {', '.join(choices)}")
    return text
