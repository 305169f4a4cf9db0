from avatarify_app.frames import MessageLevel, UserMessage
from avatarify_app.gui.banner import MessageBanner


def test_messages_on_different_subjects_are_all_shown(qtbot):
    banner = MessageBanner()
    qtbot.addWidget(banner)
    banner.show_message(UserMessage(MessageLevel.WARNING, "No webcam found.", key="camera"))
    banner.show_message(UserMessage(MessageLevel.WARNING, "No virtual camera.", key="virtual_camera"))
    assert banner.text == "No webcam found.\nNo virtual camera."
    banner.show_message(UserMessage(MessageLevel.ERROR, "Webcam busy.", key="camera"))
    assert banner.text == "No virtual camera.\nWebcam busy."


def test_closing_and_clearing_remove_one_subject(qtbot):
    banner = MessageBanner()
    qtbot.addWidget(banner)
    banner.show_message(UserMessage(MessageLevel.WARNING, "No webcam found.", key="camera"))
    banner.show_message(UserMessage(MessageLevel.ERROR, "Disk full.", key="recording"))
    banner.close_button.click()
    assert banner.text == "No webcam found."
    banner.clear("camera")
    assert banner.text == ""
    assert not banner.isVisibleTo(None)
