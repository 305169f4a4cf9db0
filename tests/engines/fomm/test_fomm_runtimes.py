"""The runtimes against the plain torch fp32 networks, the converted-model cache, and backend choice.

Bounds: fp32 max abs 1e-4; bf16, fp16 and int8 PSNR >= 30 dB; ``auto`` (whatever it picks on this CPU)
>= 40 dB and within a quarter pixel of fp32's keypoints, on a prediction that is a picture
(``spread_output_``), not a flat grey. Conversions are cached for the session (``model_cache``).
"""

from __future__ import annotations

import re
import shutil

import pytest
import torch
from fomm_helpers import TINY_FRAME, psnr, smooth_images

from avatarify_app.engines.fomm import choose_runtime
from avatarify_app.engines.fomm.checkpoint import load_checkpoint
from avatarify_app.engines.fomm.config import FommConfig
from avatarify_app.engines.fomm.model.motion import movement_scale, normalize_kp
from avatarify_app.engines.fomm.runtime import Motion, select_device
from avatarify_app.engines.fomm.runtime import export as export_module
from avatarify_app.engines.fomm.runtime.openvino_runtime import (
    CacheKey,
    ModelCache,
    OpenVinoRuntime,
    file_md5,
)
from avatarify_app.engines.fomm.runtime.precision import (
    PrecisionPlan,
    auto_plan,
    offered_precisions,
    resolve_plan,
)
from avatarify_app.engines.fomm.runtime.torch_eager import TorchRuntime
from avatarify_app.errors import InputError

OFFERED = offered_precisions()


@pytest.fixture(scope="module")
def inputs() -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Source, neutral driver and driver images, (1, 3, 64, 64) each."""
    images = smooth_images(3, seed=5)
    return images[:1], images[1:2], images[2:]


@pytest.fixture(scope="module")
def reference(session_tiny, inputs) -> dict[str, torch.Tensor]:
    """The plain torch fp32 networks, as the FOMM demo runs them."""
    checkpoint, config = session_tiny
    kp_detector, generator = load_checkpoint(checkpoint, config)
    source, initial, driver = inputs
    with torch.no_grad():
        kp_source, kp_driver = kp_detector(source), kp_detector(driver)
        moved = normalize_kp(kp_source, kp_driver, kp_detector(initial), True, True, True)
        prediction = generator(source, kp_source=kp_source, kp_driving=moved)["prediction"]
    assert prediction.std() > 0.1, "the reference must be a picture, not a flat grey"
    return {"prediction": prediction, "value": kp_driver["value"], "jacobian": kp_driver["jacobian"]}


def _openvino(session_tiny, cache, precision: str = "fp32", **kwargs) -> OpenVinoRuntime:
    checkpoint, config = session_tiny
    fomm_config = FommConfig.from_yaml(config)
    kp_detector, generator = load_checkpoint(checkpoint, fomm_config)
    return OpenVinoRuntime(
        kp_detector,
        generator,
        fomm_config,
        checkpoint_md5=file_md5(checkpoint),
        cache_dir=cache,
        precision=precision,
        **kwargs,
    )


def _run(runtime, inputs) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """One frame through ``runtime`` as the engine runs it, and the driver's keypoints."""
    source, initial, driver = inputs
    avatar = runtime.prepare(source)
    kp_initial = runtime.keypoints(initial)
    motion = Motion(kp_initial, movement_scale(avatar.kp_source, kp_initial))
    return runtime.step(driver, avatar, motion, 1.0), runtime.keypoints(driver)


def _max_abs(a: torch.Tensor, b: torch.Tensor) -> float:
    return float((a.float() - b.float()).abs().max())


def test_torch_runtime_on_the_cpu_equals_the_plain_networks(session_tiny, inputs, reference):
    checkpoint, config = session_tiny
    runtime = TorchRuntime(*load_checkpoint(checkpoint, config), select_device("cpu"), "fp32")
    assert runtime.label == "CPU, torch fp32"
    prediction, kp = _run(runtime, inputs)
    assert _max_abs(prediction, reference["prediction"]) <= 1e-4
    assert _max_abs(kp["value"], reference["value"]) <= 1e-4


def test_openvino_fp32_equals_the_plain_networks(session_tiny, model_cache, inputs, reference):
    runtime = _openvino(session_tiny, model_cache, "fp32")
    assert runtime.label == "CPU, OpenVINO fp32"
    prediction, kp = _run(runtime, inputs)
    assert prediction.shape == (1, 3, TINY_FRAME, TINY_FRAME)
    assert _max_abs(prediction, reference["prediction"]) <= 1e-4
    assert _max_abs(kp["value"], reference["value"]) <= 1e-4
    assert _max_abs(kp["jacobian"], reference["jacobian"]) <= 1e-4


@pytest.mark.parametrize("precision", ["fp32", "bf16", "fp16", "int8"])
def test_openvino_runs_each_precision_this_cpu_offers(
    session_tiny, model_cache, inputs, reference, precision
):
    """Each precision OpenVINO runs natively here, asked for explicitly: the label says it, and the
    picture stays close to fp32's (fp32 max abs 1e-4; bf16, fp16 PSNR >= 30 dB; int8 >= 30 dB)."""
    if precision not in OFFERED:
        pytest.skip(
            f"OpenVINO does not run {precision} natively on this CPU (it offers {', '.join(OFFERED)})"
        )
    runtime = _openvino(session_tiny, model_cache, precision)
    assert runtime.label.startswith(f"CPU, OpenVINO {precision}")
    assert set(runtime.plan.values()) <= {precision, "fp32"}
    assert precision in runtime.plan.values()
    prediction, keypoints = _run(runtime, inputs)
    if precision == "fp32":
        assert _max_abs(prediction, reference["prediction"]) <= 1e-4
        assert _max_abs(keypoints["value"], reference["value"]) <= 1e-5
    else:
        assert psnr(prediction, reference["prediction"]) >= 30


@pytest.mark.parametrize("precision", ["bf16", "fp16"])
def test_a_precision_the_cpu_lacks_runs_fp32_and_says_so(
    session_tiny, model_cache, inputs, reference, precision, caplog
):
    if precision in OFFERED:
        pytest.skip(f"this CPU runs {precision} natively")
    runtime = _openvino(session_tiny, model_cache, precision)
    assert runtime.label == "CPU, OpenVINO fp32"
    assert "not supported natively" in caplog.text
    assert _max_abs(_run(runtime, inputs)[0], reference["prediction"]) <= 1e-4


def test_openvino_auto_is_faithful_whatever_it_picks(session_tiny, model_cache, inputs, reference):
    """``auto`` differs by CPU; whatever it runs keeps the keypoints and the picture close to fp32."""
    runtime = _openvino(session_tiny, model_cache, "auto")
    assert re.fullmatch(r"CPU, OpenVINO \S.*", runtime.label)
    assert runtime.plan == auto_plan(OFFERED)
    prediction, keypoints = _run(runtime, inputs)
    assert psnr(prediction, reference["prediction"]) >= 40
    assert _max_abs(keypoints["value"], reference["value"]) * TINY_FRAME / 2 <= 0.25  # pixels


def test_auto_follows_what_the_cpu_offers():
    """The rule, for given capabilities (not this CPU's): nothing faster measured faithful without
    native bf16, so fp32 there."""
    assert auto_plan(("fp32", "int8")) == PrecisionPlan()  # an AVX2 or AVX-512 CPU without bf16
    assert auto_plan(()) == PrecisionPlan()
    with_bf16 = auto_plan(("fp32", "bf16", "int8"))
    assert with_bf16.keypoints == "fp32", "bf16 keypoints were measured a pixel off"
    assert with_bf16.motion == "fp32", "the dense motion in bf16 was measured below 40 dB"


def test_precision_plans_read_and_name_themselves():
    plan = PrecisionPlan.parse("keypoints=fp32, decoder=bf16")
    assert plan == PrecisionPlan("fp32", "fp32", "bf16")
    assert plan.name == "bf16 decoder + fp32"
    assert PrecisionPlan.parse(plan.spec) == plan
    assert PrecisionPlan.uniform("int8").name == "int8"
    assert resolve_plan("fp32", ("fp32", "bf16")) == PrecisionPlan()
    assert resolve_plan("auto", ()) == PrecisionPlan()  # nothing offered: fp32
    with pytest.raises(InputError, match="unknown part 'encoder'"):
        PrecisionPlan.parse("encoder=bf16")
    with pytest.raises(InputError, match="unknown precision 'fp8' for the decoder"):
        PrecisionPlan.parse("decoder=fp8")


def test_openvino_int8_is_within_30_db_of_fp32(session_tiny, model_cache, inputs, reference):
    key = CacheKey(file_md5(session_tiny[0]), runtime_config(session_tiny), quantized=True)
    converted_before = ModelCache(model_cache).path(key).is_dir()  # by the render test, say
    messages: list[str] = []
    runtime = _openvino(session_tiny, model_cache, "int8", progress=messages.append)
    assert runtime.label.startswith("CPU, OpenVINO int8")
    prediction, _ = _run(runtime, inputs)
    assert psnr(prediction, reference["prediction"]) >= 30
    assert _max_abs(prediction, reference["prediction"]) > 0  # it is quantized
    if not converted_before:
        assert any("calibrating int8 on the bundled driving frames" in m for m in messages)
    assert ModelCache(model_cache).path(key).is_dir()


def runtime_config(session_tiny) -> str:
    from avatarify_app.engines.fomm.runtime.openvino_runtime import config_digest

    return config_digest(FommConfig.from_yaml(session_tiny[1]), True)


def test_the_cache_is_reused(session_tiny, model_cache, inputs, reference, monkeypatch):
    _openvino(session_tiny, model_cache, "fp32")  # converted here or by an earlier test

    def no_export(*args, **kwargs):
        raise AssertionError("the cached model should have been used")

    monkeypatch.setattr(export_module, "export_keypoints", no_export)
    messages: list[str] = []
    runtime = _openvino(session_tiny, model_cache, "fp32", progress=messages.append)
    assert runtime.conversion_s == 0
    assert messages == []
    prediction, _ = _run(runtime, inputs)
    assert _max_abs(prediction, reference["prediction"]) <= 1e-4


def test_a_different_checkpoint_gets_its_own_entry(session_tiny, tmp_path, inputs):
    checkpoint, config = session_tiny
    other = tmp_path / "other.pth.tar"
    data = torch.load(checkpoint, weights_only=True)
    data["generator"]["final.bias"] = data["generator"]["final.bias"] + 0.5
    torch.save(data, other)
    cache = tmp_path / "cache"
    first = _openvino((checkpoint, config), cache, "fp32")
    messages: list[str] = []
    second = _openvino((other, config), cache, "fp32", progress=messages.append)
    assert any("Preparing the model for this computer" in m for m in messages), "not converted again"
    assert len([p for p in cache.iterdir() if p.name != "compiled"]) == 2
    assert _max_abs(_run(first, inputs)[0], _run(second, inputs)[0]) > 1e-3


@pytest.mark.parametrize("damage", ["truncate", "garbage", "manifest"])
def test_a_damaged_cache_entry_is_rebuilt(
    session_tiny, model_cache, tmp_path, inputs, reference, damage, caplog
):
    cache = tmp_path / "cache"
    shutil.copytree(model_cache, cache)  # the session's entries, converted once
    key = CacheKey(file_md5(session_tiny[0]), runtime_config(session_tiny), False)
    entry = ModelCache(cache).path(key)
    assert entry.is_dir()
    if damage == "truncate":
        weights = entry / "decoder.bin"
        weights.write_bytes(weights.read_bytes()[:100])
    elif damage == "garbage":
        (entry / "keypoints.xml").write_text("<net><broken", encoding="utf-8")
    else:
        (entry / "manifest.json").unlink()
    messages: list[str] = []
    runtime = _openvino(session_tiny, cache, "fp32", progress=messages.append)
    assert "is damaged" in caplog.text
    assert any("Preparing the model" in m for m in messages)
    assert _max_abs(_run(runtime, inputs)[0], reference["prediction"]) <= 1e-4
    assert ModelCache(cache).load(key) is not None, "the rebuilt entry is whole"


def test_backend_choice_here():
    """This project's machines have no GPU: auto means OpenVINO on the CPU."""
    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    assert choose_runtime().backend == "openvino"
    assert choose_runtime(precision="int8").backend == "openvino"
    assert choose_runtime("torch").precision == "fp32"
    with pytest.raises(InputError, match="int8 needs the openvino backend"):
        choose_runtime("torch", "int8")
    with pytest.raises(InputError, match="fp16 in torch is for GPUs"):
        choose_runtime("torch", "fp16")
    with pytest.raises(InputError, match="unknown backend 'tensorrt'"):
        choose_runtime("tensorrt")
    with pytest.raises(InputError, match="unknown precision 'fp8'"):
        choose_runtime(precision="fp8")
