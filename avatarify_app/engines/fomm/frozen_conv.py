"""Inference-only convolutions that pick a fast algorithm for each input size (CPU float32).

On a CPU, 3x3 and 7x7 convolutions run 2.5 to 5 times faster through NNPACK's Winograd and FFT
kernels than through the direct (oneDNN) kernels torch uses for a batch of one; torch only calls
NNPACK by itself for batches of 16 or more. Measured per layer on this project's 2-core CPU, one thread,
torch 2.13 (bench/fomm_engine.py): a bottleneck conv 256->256 at 64x64 takes 44 ms direct, 29 ms with
``winograd.py`` and 18 ms with NNPACK; the final 7x7 conv 64->3 at 256x256 63 ms direct, 12 ms NNPACK.
NNPACK is not in every torch build (Windows wheels lack it): then ``winograd.py`` serves the large 3x3
convs. Results differ from the direct convolution by about 1e-5 of the output's scale.

An upsampling conv (2x nearest, then 3x3) on an input of 32x32 or more runs as one 3x3 conv with four
phase kernels per output channel on the low-resolution input, then a pixel shuffle
(``winograd.subpixel_weight``): the Winograd input transform then covers a quarter of the pixels.
The small, wide convs of the hourglasses' middle (outputs up to 8x8) run as an unfold and one GEMM.

The sub-pixel and Winograd weights are derived lazily, on the first input that needs them, on the
weights' device and dtype (they are rebuilt if the module moves).
"""

from __future__ import annotations

import contextlib
import enum
import logging
import os
from collections.abc import Iterator

import torch
import torch.nn.functional as F
from torch import nn

from avatarify_app.engines.fomm.winograd import filter_transform, subpixel_weight, winograd_conv3x3

logger = logging.getLogger(__name__)

# Below these sizes the direct kernels are as fast (measured as in the module docstring).
_MIN_FAST_PIXELS = 16 * 16  # output pixels for NNPACK
# Up to this many output pixels, with many channels (the dense motion hourglass's middle), an unfold and
# one GEMM beats the direct kernel: 2048->512 at 8x8 takes 43 ms direct, 20 ms as an MKL GEMM (one
# thread), 7.5 ms as NNPACK's 1x1 conv on its 2-thread pool.
_MAX_IM2COL_PIXELS = 8 * 8
_MIN_SUBPIXEL_PIXELS = 32 * 32  # low-resolution input pixels for the sub-pixel form of an upsampling conv
_MIN_WINOGRAD_CHANNELS = 128  # input channels for our own Winograd (when NNPACK is missing)
_MIN_WINO_PIXELS = 64 * 64  # output pixels for our own Winograd


class Algorithm(enum.Enum):
    DIRECT = "direct"  # F.conv2d
    NNPACK = "nnpack"  # torch._nnpack_spatial_convolution
    WINOGRAD = "winograd"  # winograd.winograd_conv3x3, 3x3 only
    IM2COL = "im2col"  # F.unfold and one GEMM


def nnpack_available() -> bool:
    """Whether this torch build has NNPACK; the call also initializes it (needed before first use)."""
    try:
        return bool(torch._nnpack_available())
    except (AttributeError, RuntimeError):
        return False


def openmp_spins() -> bool:
    """Whether torch's OpenMP workers busy-wait between parallel ops (GNU OpenMP's default).

    ``OMP_WAIT_POLICY=PASSIVE`` in the environment when torch is first imported makes them sleep at
    once instead; it cannot be changed afterwards.
    """
    return os.environ.get("OMP_WAIT_POLICY", "").strip().upper() != "PASSIVE"


@contextlib.contextmanager
def nnpack_threads() -> Iterator[None]:
    """Run torch's own (OpenMP) kernels on one thread inside the block, NNPACK's on all of them.

    NNPACK has its own thread pool, sized by torch's thread count at its first use. torch's OpenMP
    workers spin for milliseconds after each parallel op, on the cores NNPACK's threads need: on this
    project's 2-core CPU a frame took 390-450 ms with 2 spinning OpenMP threads and 310-340 ms with
    one; with ``OMP_WAIT_POLICY=PASSIVE`` (no spinning) 2 threads are best, 275 ms
    (bench/fomm_engine.py). The thread count is process-wide: it is restored on leaving. Without NNPACK,
    with one thread, or with passive OpenMP threads, this does nothing.
    """
    threads = torch.get_num_threads()
    if threads == 1 or not nnpack_available() or not openmp_spins():
        yield
        return
    # Make sure NNPACK's pool exists, with the full thread count, before the count drops.
    torch._nnpack_spatial_convolution(torch.zeros(1, 1, 4, 4), torch.zeros(1, 1, 3, 3), None, [1, 1])
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)


def running_stats(norm: nn.BatchNorm2d) -> tuple[torch.Tensor, torch.Tensor]:
    """``norm``'s running mean and variance, each (C,). Raises ``ValueError`` when it keeps none
    (``track_running_stats=False``): such a batch norm cannot be folded."""
    if norm.running_mean is None or norm.running_var is None:
        raise ValueError("cannot fold a batch norm without running statistics (track_running_stats=False)")
    return norm.running_mean, norm.running_var


def fold_batch_norm(conv: nn.Conv2d, norm: nn.BatchNorm2d) -> tuple[torch.Tensor, torch.Tensor]:
    """Weight and bias of ``norm(conv(x))`` as one conv, with the running statistics (eval mode).

    Shape:
        returns weight (C_out, C_in, k, k), bias (C_out,)
    """
    running_mean, running_var = running_stats(norm)
    scale = norm.weight.detach() / torch.sqrt(running_var + norm.eps)
    weight = conv.weight.detach() * scale.view(-1, 1, 1, 1)
    bias = conv.bias.detach() if conv.bias is not None else torch.zeros_like(running_mean)
    return weight, (bias - running_mean) * scale + norm.bias.detach()


class FrozenConv2d(nn.Module):
    """A fixed convolution (stride 1, square zero padding), optionally after a 2x nearest upsampling.

    ``algorithm``: None picks per input size (NNPACK when available and the output is at least 16x16,
    else Winograd for large 3x3 convs, else direct); an ``Algorithm`` forces one (tests). Off the CPU,
    or for other dtypes, it is always the direct convolution.

    Shape:
        x: (B, C_in, H, W) -> (B, C_out, H', W') as ``F.conv2d`` (of the upsampled input) gives
    """

    weight: torch.Tensor  # buffer, (C_out, C_in, k, k)
    bias: torch.Tensor | None  # buffer, (C_out,)

    def __init__(
        self,
        weight: torch.Tensor,
        bias: torch.Tensor | None,
        padding: int,
        *,
        upsample: bool = False,
        algorithm: Algorithm | None = None,
    ) -> None:
        super().__init__()
        self.register_buffer("weight", weight.detach().clone().contiguous())
        self.register_buffer("bias", None if bias is None else bias.detach().clone().contiguous())
        self.padding = padding
        self.upsample = upsample
        self.algorithm = algorithm
        self.kernel_size = weight.shape[-1]
        self._nnpack = nnpack_available()
        self._subpixel: tuple[torch.Tensor, torch.Tensor | None] | None = None  # (4 C_out, C_in, 3, 3)
        self._winograd: dict[bool, torch.Tensor] = {}  # subpixel -> filter_transform of that weight

    def extra_repr(self) -> str:
        c_out, c_in, k, _ = self.weight.shape
        return f"{c_in}, {c_out}, kernel_size={k}, padding={self.padding}, upsample={self.upsample}"

    def choose(self, x: torch.Tensor) -> tuple[Algorithm, bool]:
        """The algorithm for input ``x``, and whether to use the sub-pixel form (upsampling convs)."""
        if x.device.type != "cpu" or x.dtype != torch.float32:
            return Algorithm.DIRECT, False
        h, w = x.shape[2:]
        out_pixels = h * w * (4 if self.upsample else 1)
        is_3x3 = self.kernel_size == 3 and self.padding == 1
        algorithm = self.algorithm
        if algorithm is None:
            if self._nnpack and out_pixels >= _MIN_FAST_PIXELS:
                algorithm = Algorithm.NNPACK
            elif out_pixels <= _MAX_IM2COL_PIXELS:
                algorithm = Algorithm.IM2COL
            elif is_3x3 and self.weight.shape[1] >= _MIN_WINOGRAD_CHANNELS and out_pixels >= _MIN_WINO_PIXELS:
                algorithm = Algorithm.WINOGRAD
            else:
                algorithm = Algorithm.DIRECT
        if algorithm is Algorithm.WINOGRAD and not is_3x3:
            algorithm = Algorithm.DIRECT
        subpixel = (
            self.upsample
            and is_3x3
            and algorithm in (Algorithm.NNPACK, Algorithm.WINOGRAD)
            and (self.algorithm is not None or h * w >= _MIN_SUBPIXEL_PIXELS)
        )
        return algorithm, subpixel

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        algorithm, subpixel = self.choose(x)
        if subpixel:
            weight, bias = self._subpixel_weights()
        else:
            if self.upsample:
                x = _upsample_nearest2x(x)
            weight, bias = self.weight, self.bias
        if algorithm is Algorithm.NNPACK:
            try:
                out = torch._nnpack_spatial_convolution(x.contiguous(), weight, bias, [self.padding] * 2)
            except RuntimeError:
                logger.warning("NNPACK failed on a %s input: using the direct convolution", tuple(x.shape))
                self._nnpack = False
                self.algorithm = None if self.algorithm is None else Algorithm.DIRECT
                out = F.conv2d(x, weight, bias, padding=self.padding)
        elif algorithm is Algorithm.WINOGRAD:
            u = self._winograd.get(subpixel)
            if u is None or u.device != weight.device or u.dtype != weight.dtype:
                u = self._winograd[subpixel] = filter_transform(weight).to(weight.device, weight.dtype)
            out = winograd_conv3x3(x.contiguous(), u, bias)
        elif algorithm is Algorithm.IM2COL:
            out = _im2col_conv(x, weight, bias, self.padding, nnpack=self._nnpack)
        else:
            out = F.conv2d(x, weight, bias, padding=self.padding)
        return _pixel_shuffle(out) if subpixel else out

    def _subpixel_weights(self) -> tuple[torch.Tensor, torch.Tensor | None]:
        cached = self._subpixel
        if cached is None or cached[0].device != self.weight.device or cached[0].dtype != self.weight.dtype:
            c_out, c_in = self.weight.shape[:2]
            # (phase, C_out) -> (C_out, phase): the channel order pixel_shuffle reads.
            weight = subpixel_weight(self.weight).view(4, c_out, c_in, 3, 3).transpose(0, 1)
            bias = None if self.bias is None else self.bias.repeat_interleave(4)
            cached = self._subpixel = (weight.reshape(4 * c_out, c_in, 3, 3).contiguous(), bias)
        return cached


def _im2col_conv(
    x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None, padding: int, nnpack: bool = False
) -> torch.Tensor:
    """``F.conv2d`` (stride 1) as an unfold and one matrix product.

    ``nnpack``: compute the product as NNPACK's 1x1 convolution, on NNPACK's thread pool (2x faster
    than MKL's GEMM on one OpenMP thread inside ``nnpack_threads``: 15.2 -> 7.5 ms for 2048->512 at 8x8).
    """
    b, _, h, w = x.shape
    c_out, _, k, _ = weight.shape
    h_out, w_out = h + 2 * padding - k + 1, w + 2 * padding - k + 1
    cols = F.unfold(x, k, padding=padding)  # (B, C_in k k, L)
    if nnpack:
        try:
            return torch._nnpack_spatial_convolution(
                cols.view(b, -1, h_out, w_out), weight.reshape(c_out, -1, 1, 1), bias, [0, 0]
            )
        except RuntimeError:
            logger.warning("NNPACK failed on a %s GEMM: using torch's", tuple(cols.shape))
    out = weight.reshape(c_out, -1) @ cols  # (B, C_out, L)
    if bias is not None:
        out = out + bias.view(1, -1, 1)
    return out.view(b, c_out, h_out, w_out)


def _upsample_nearest2x(x: torch.Tensor) -> torch.Tensor:
    """``F.interpolate(x, scale_factor=2)`` (nearest) as one broadcast copy: 2 to 4x faster on one CPU
    thread (6.1 -> 1.4 ms for (1, 256, 32, 32), torch 2.13).

    Shape:
        x: (B, C, H, W) -> (B, C, 2 H, 2 W)
    """
    b, c, h, w = x.shape
    return x[:, :, :, None, :, None].expand(b, c, h, 2, w, 2).reshape(b, c, 2 * h, 2 * w)


def _pixel_shuffle(x: torch.Tensor) -> torch.Tensor:
    """``F.pixel_shuffle(x, 2)`` as one permuted copy: 4x faster on the CPU here (10.5 -> 2.7 ms for
    (1, 256, 128, 128), one thread, torch 2.13).

    Shape:
        x: (B, 4 C, H, W), channels ordered (C, row parity, column parity) -> (B, C, 2 H, 2 W)
    """
    b, c4, h, w = x.shape
    c = c4 // 4
    return x.view(b, c, 2, 2, h, w).permute(0, 1, 4, 2, 5, 3).reshape(b, c, 2 * h, 2 * w)
