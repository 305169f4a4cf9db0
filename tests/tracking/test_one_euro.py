import numpy as np

from avatarify_app.tracking import OneEuroFilter, OneEuroParams


def test_constant_signal_passes_unchanged():
    f = OneEuroFilter(OneEuroParams())
    x = np.array([1.0, 2.0, 3.0])
    for i in range(10):
        out = f(x, i / 30)
    np.testing.assert_allclose(out, x)


def test_jitter_is_reduced_at_rest():
    rng = np.random.default_rng(0)
    f = OneEuroFilter(OneEuroParams(min_cutoff=1.0, beta=0.0))
    noisy = 100 + rng.normal(0, 2.0, size=300)
    smoothed = np.array([f(np.array([v]), i / 30)[0] for i, v in enumerate(noisy)])
    assert smoothed[50:].std() < noisy[50:].std() / 2


def test_fast_motion_lags_less_with_higher_beta():
    ramp = np.arange(60) * 10.0  # 300 px/s at 30 fps

    def lag(beta):
        f = OneEuroFilter(OneEuroParams(min_cutoff=1.0, beta=beta))
        out = [f(np.array([v]), i / 30)[0] for i, v in enumerate(ramp)]
        return ramp[-1] - out[-1]

    assert lag(0.5) < lag(0.0) / 2


def test_reset_restarts_from_the_next_sample():
    f = OneEuroFilter(OneEuroParams())
    f(np.array([0.0]), 0.0)
    f.reset()
    assert f(np.array([50.0]), 1 / 30)[0] == 50.0
