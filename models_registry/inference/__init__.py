"""Model inference kernels: pure NumPy / torch / onnxruntime / mediapipe, no Django.

Everything here takes images as ``(H, W, 3)`` uint8 RGB arrays and boxes as
``(N, 4)`` float ``[x, y, w, h]`` in image pixels, and returns keypoints in
image pixels, so the services above never see tensors or crops.
"""
