"""Opening a microphone that is not there gives a sentence for people, not PortAudio's words."""

import pytest

from avatarify_app.errors import DeviceError
from avatarify_app.outputs.microphone import open_microphone


def test_a_missing_microphone_is_told_in_plain_words():
    with pytest.raises(DeviceError) as caught:
        open_microphone("avatarify-test-no-such-microphone", lambda block: None)
    text = str(caught.value)
    assert text == (
        "microphone 'avatarify-test-no-such-microphone' was not found "
        "(connect one, or choose another microphone)"
    )
    assert "Error querying" not in text
