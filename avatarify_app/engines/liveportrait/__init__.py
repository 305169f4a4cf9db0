"""LivePortrait (Guo et al., Kuaishou, 2024): implicit 3D keypoints, a warped 3D appearance volume and a
SPADE decoder, compatible with the released weights (which users bring: see docs/liveportrait.md).

Layout: ``model/`` the networks and keypoint maths, ``checkpoint.py`` the loading of the released
folder, ``config.py`` the network sizes, ``engine.py`` the ``Engine``.
"""
