"""The compute device and why: CUDA, MPS, or the CPU with the exact fix."""

from __future__ import annotations

import hashlib
import sys
from pathlib import Path

import pytest

from avatarify_app.diagnostics import Status
from avatarify_app.diagnostics.checkpoints import check_checkpoints
from avatarify_app.diagnostics.runtime import NvidiaInfo, _why_cpu, check_compute_device, cuda_build_for
from avatarify_app.diagnostics.tracking import check_face_mesh_models, mediapipe_root


@pytest.mark.parametrize(
    ("driver_cuda", "build"),
    [((13, 1), "cu130"), ((12, 9), "cu128"), ((12, 6), "cu126"), ((12, 4), None), (None, "cu128")],
)
def test_cuda_build_follows_the_driver(driver_cuda: tuple[int, int] | None, build: str | None) -> None:
    assert cuda_build_for(driver_cuda) == build


def test_cpu_torch_on_a_machine_with_an_nvidia_gpu(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys, "platform", "linux")
    check = _why_cpu("2.13.0+cpu", None, NvidiaInfo(("NVIDIA GeForce RTX 4070",), (12, 8)))

    assert check.status is Status.WARN
    assert check.detail.startswith(
        "CPU: torch is a CPU build (2.13.0+cpu) although this computer has NVIDIA GPU NVIDIA GeForce RTX 4070"
    )
    assert check.fix == (
        "install the CUDA build: pip install torch==2.13.0 --index-url https://download.pytorch.org/whl/cu128"
    )


def test_cpu_torch_and_an_old_driver(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys, "platform", "linux")
    check = _why_cpu("2.13.0+cpu", None, NvidiaInfo(("GTX 1070",), (11, 4)))
    assert "supports only CUDA 11.4" in check.detail
    assert check.fix.startswith("update the NVIDIA driver, then pip install torch==2.13.0 --index-url")


def test_cuda_torch_without_a_driver(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys, "platform", "win32")
    check = _why_cpu("2.13.0+cu128", "12.8", None)
    assert "built for CUDA 12.8, but no NVIDIA driver was found" in check.detail
    assert check.fix == "install the NVIDIA driver (nvidia-smi must list your GPU)"


def test_a_cuda_device_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "get_device_name", lambda index=0: "NVIDIA H100 80GB HBM3")
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)
    monkeypatch.setattr(torch.cuda, "current_device", lambda: 0)

    check = check_compute_device()

    assert check.status is Status.OK
    assert check.detail.startswith("CUDA: NVIDIA H100 80GB HBM3 (torch ")


def test_this_machine_computes_on_the_cpu() -> None:
    check = check_compute_device(nvidia=None, probe=False)
    assert check.status is Status.WARN
    assert check.detail.startswith("CPU: ")


def test_the_installed_mediapipe_has_its_face_mesh_models() -> None:
    root = mediapipe_root()
    assert root is not None
    assert check_face_mesh_models(root).status is Status.OK


def test_checkpoints_against_a_registry(tmp_path: Path) -> None:
    good, other = b"good weights", b"other weights"

    registry = tmp_path / "registry.yaml"
    registry.write_text(
        "models:\n"
        f"  - {{name: good, file: good.pth.tar, md5: {hashlib.md5(good).hexdigest()}, config: c.yaml}}\n"
        f"  - {{name: bad, file: bad.pth.tar, md5: '{'0' * 32}', config: c.yaml, urls: [https://example.invalid/b]}}\n"
        "  - {name: absent, file: absent.pth.tar, config: c.yaml}\n",
        encoding="utf-8",
    )
    models = tmp_path / "models"
    models.mkdir()
    (models / "good.pth.tar").write_bytes(good)
    (models / "bad.pth.tar").write_bytes(other)
    (models / "mine.pth.tar").write_bytes(other)

    checks = {c.name: c for c in check_checkpoints(models, registry)}
    stray = check_checkpoints(models, registry)[-1]

    assert (checks["checkpoint good"].status, checks["checkpoint good"].detail) == (
        Status.OK,
        f"{models / 'good.pth.tar'} (md5 ok)",
    )
    assert checks["checkpoint bad"].status is Status.WARN
    assert "avatarify models fetch bad" in checks["checkpoint bad"].fix
    # Another checkpoint is present, so a missing one is optional.
    assert checks["checkpoint absent"].status is Status.OK
    assert stray.status is Status.WARN
    assert "mine.pth.tar" in stray.detail


def test_no_checkpoint_warns_with_how_to_get_one(tmp_path: Path) -> None:
    checks = check_checkpoints(tmp_path)
    assert [c.status for c in checks] == [Status.WARN, Status.WARN]
    assert checks[0].fix.startswith("avatarify models fetch vox-adv-cpk (about 228 MB; licence: CC BY-NC 4.0")
    assert checks[1].fix.startswith("download vox-cpk.pth.tar yourself")


def test_readme_and_doctor_give_one_cuda_wheel_and_the_cpu_at_hand() -> None:
    from avatarify_app.config import app_root
    from avatarify_app.diagnostics.cpu import check_fomm_runtime
    from avatarify_app.diagnostics.runtime import DEFAULT_CUDA_BUILD

    readme = " ".join((app_root() / "README.md").read_text(encoding="utf-8").split())
    assert f"whl/{DEFAULT_CUDA_BUILD}`" in readme
    # The doctor describes the CPU at hand (diagnostics.cpu.fomm_cpu_speed), not a general sentence.
    assert "new frames a second" in check_fomm_runtime().detail  # this machine has no GPU
