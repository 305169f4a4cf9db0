"""The CPU features report and the fomm runtime doctor names."""

from __future__ import annotations

from avatarify_app.diagnostics import Status
from avatarify_app.diagnostics.cpu import check_cpu_features, check_fomm_runtime, cpu_features, fomm_cpu_speed
from avatarify_app.engines.fomm.runtime.precision import fidelity_note


def test_reads_the_flags_of_cpuinfo(tmp_path):
    cpuinfo = tmp_path / "cpuinfo"
    cpuinfo.write_text(
        "processor\t: 0\nmodel name\t: Example Xeon\n"
        "flags\t\t: fpu avx avx2 avx512f avx512_vnni amx_tile amx_bf16\n"
    )
    cpu = cpu_features(cpuinfo)
    assert cpu.model == "Example Xeon"
    assert cpu.features == {"avx2": True, "avx512": True, "vnni": True, "bf16": True, "amx": True}
    assert cpu.native_bf16
    assert cpu.summary() == "AVX2 yes, AVX-512 yes, VNNI yes, bf16 yes, AMX yes"


def test_an_avx2_cpu_has_no_native_bf16(tmp_path):
    cpuinfo = tmp_path / "cpuinfo"
    cpuinfo.write_text("model name\t: AMD EPYC\nflags\t\t: fpu fma avx f16c avx2\n")
    cpu = cpu_features(cpuinfo)
    assert cpu.features["avx2"]
    assert not cpu.features["avx512"]
    assert not cpu.features["bf16"]
    assert "AVX2 yes, AVX-512 no, VNNI no, bf16 no, AMX no" in cpu.summary()


def test_without_cpuinfo_the_features_are_unknown(tmp_path):
    cpu = cpu_features(tmp_path / "absent")
    assert set(cpu.features.values()) == {None}
    assert "AVX2 ?" in cpu.summary()


def test_doctor_says_what_the_fomm_engine_will_run_on_here():
    check = check_cpu_features()
    assert check.status is Status.OK
    assert "AVX2" in check.detail
    runtime = check_fomm_runtime()
    # This project's machines: no GPU, OpenVINO installed.
    assert runtime.detail.startswith("OpenVINO on the CPU, auto = ")
    assert fomm_cpu_speed() in runtime.detail  # what this kind of CPU makes
    assert f"--precision int8: {fidelity_note('int8')}" in runtime.detail  # its measured cost


def test_the_speed_sentence_names_the_kind_of_cpu(tmp_path):
    cpuinfo = tmp_path / "cpuinfo"
    cpuinfo.write_text("model name\t: AMD EPYC\nflags\t\t: fpu fma avx f16c avx2\n")
    avx2 = cpu_features(cpuinfo)
    assert avx2.kind == "avx2"
    assert "on an AVX2-only CPU like this one" in fomm_cpu_speed(avx2)
    cpuinfo.write_text("model name\t: Xeon\nflags\t\t: avx2 avx512f avx512_bf16 amx_tile amx_bf16\n")
    assert cpu_features(cpuinfo).kind == "amx"
    cpuinfo.write_text("model name\t: EPYC\nflags\t\t: avx2 avx512f avx512_vnni avx512_bf16\n")
    assert cpu_features(cpuinfo).kind == "avx512-bf16"
    assert "has not been measured" in fomm_cpu_speed(cpu_features(tmp_path / "absent"))
