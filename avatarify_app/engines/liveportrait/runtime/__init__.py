"""What runs the LivePortrait networks besides torch eager: OpenVINO on the CPU (``openvino.py``)."""
