"""The doctor's report: structure, the real run on this machine, and blocking vs. warning findings."""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

import pytest

from avatarify_app.cli import doctor as doctor_cli
from avatarify_app.diagnostics import Check, Status, devices, doctor, runtime, tracking
from avatarify_app.engines import catalog

# What a machine without webcam, virtual-camera driver or GPU (CI, this project's machines) reports.
EXPECTED_NAMES = [
    "python",
    "opencv",
    "torch",
    "compute device",
    "cpu",
    "fomm runtime",
    "face tracking models",
    "face tracking run",
    "gui toolkit",
    "display",
    "cameras",
    "virtual camera",
    "microphones",
    "recording",
]


@pytest.fixture(scope="module")
def real_report() -> list[Check]:
    return doctor.run_checks()


def run_cli(*argv: str) -> int:
    parser = argparse.ArgumentParser(prog="avatarify")
    doctor_cli.register(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["doctor", *argv])
    return args.func(args)


def test_the_report_is_a_list_of_checks_in_a_fixed_order(real_report: list[Check]) -> None:
    assert all(isinstance(c, Check) and isinstance(c.status, Status) for c in real_report)
    names = [c.name for c in real_report]
    assert names[: len(EXPECTED_NAMES)] == EXPECTED_NAMES
    rest = names[len(EXPECTED_NAMES) :]
    engines = [f"engine {info.name}" for info in catalog.entries()]
    assert rest[-len(engines) :] == engines, "one line per catalog engine, last"
    assert all(name.startswith("checkpoint") for name in rest[: -len(engines)])
    assert all(c.detail for c in real_report)
    assert all(c.fix for c in real_report if c.status is not Status.OK), "every finding needs a fix"


def test_this_machine_runs_the_app_with_warnings_only(real_report: list[Check]) -> None:
    by_name = {c.name: c for c in real_report}

    assert doctor.blocking(real_report) == []
    assert by_name["face tracking models"].status is Status.OK
    assert by_name["face tracking run"].status is Status.OK
    assert "478 landmarks" in by_name["face tracking run"].detail
    assert by_name["gui toolkit"].status is Status.OK
    # No GPU, no webcam, no v4l2loopback here: warnings, each with its fix.
    assert by_name["compute device"].status is Status.WARN
    assert "download.pytorch.org/whl/cu" in by_name["compute device"].fix
    assert by_name["cameras"].status is Status.WARN
    assert "demo motion" in by_name["cameras"].detail
    assert by_name["virtual camera"].status is Status.WARN
    assert "modprobe v4l2loopback devices=1 exclusive_caps=1" in by_name["virtual camera"].fix


def test_doctor_exits_0_with_warnings_and_prints_json(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    assert run_cli("--json", "--models-dir", str(tmp_path)) == 0

    report = json.loads(capsys.readouterr().out)
    assert report["ok"] is True
    assert {c["status"] for c in report["checks"]} <= {"ok", "warn"}
    assert {"name", "status", "detail", "fix"} == set(report["checks"][0])
    assert any(c["name"] == "checkpoint vox-adv-cpk" and c["status"] == "warn" for c in report["checks"])


def test_missing_mediapipe_models_block_the_app(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(tracking, "mediapipe_root", lambda: tmp_path)  # a mediapipe without its models

    assert run_cli("--no-devices") == 1

    out = capsys.readouterr().out
    assert "fail  face tracking models" in out
    assert "face_landmark_with_attention.tflite or face_landmark.tflite" in out
    assert "fix: pip install --force-reinstall mediapipe==0.10.21" in out
    assert "the app cannot run until the failures are fixed" in out


def test_no_camera_is_a_warning_only(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(devices, "probe_cameras", lambda: [])

    assert run_cli() == 0

    assert "warn  cameras" in capsys.readouterr().out


def test_missing_pyside6_blocks_the_app(monkeypatch: pytest.MonkeyPatch) -> None:
    import sys

    monkeypatch.setitem(sys.modules, "PySide6", None)

    checks = {c.name: c for c in doctor.run_checks(probe_devices=False)}

    assert checks["gui toolkit"].status is Status.FAIL
    assert checks["gui toolkit"].fix == "pip install PySide6-Essentials==6.12.0 PySide6-Addons==6.12.0"


def test_a_check_that_crashes_is_reported_and_the_rest_still_run(monkeypatch: pytest.MonkeyPatch) -> None:
    def broken() -> Check:
        raise ZeroDivisionError("boom")

    monkeypatch.setattr(runtime, "check_python", broken)

    checks = doctor.run_checks(probe_devices=False)

    assert checks[0] == Check("python", Status.FAIL, "the check itself failed: ZeroDivisionError: boom")
    assert [c.name for c in checks[1:3]] == ["opencv", "torch"]


def test_the_text_report_puts_each_fix_under_its_finding() -> None:
    checks = [
        Check("python", Status.OK, "3.11.7"),
        Check("virtual camera", Status.WARN, "no virtual camera", "sudo modprobe v4l2loopback devices=1"),
    ]

    text = doctor_cli.format_report(checks, width=100)

    lines = text.splitlines()
    assert lines[2].split() == ["ok", "python", "3.11.7"]
    assert lines[3].startswith("warn  virtual camera")
    assert lines[4].strip() == "fix: sudo modprobe v4l2loopback devices=1"
    assert lines[4].index("fix") == lines[3].index("no virtual")
    assert (
        lines[-1] == "1 ok, 1 warnings, 0 failures: the app can run; the warnings say what it cannot do here."
    )


def test_the_installed_command_reports_and_exits_0(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "avatarify_app", "doctor", "--no-devices", "--models-dir", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )

    assert result.returncode == 0, result.stderr
    assert "warnings, 0 failures: the app can run" in result.stdout.splitlines()[-1]
