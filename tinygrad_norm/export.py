"""Models leave the library: to torch, ONNX and scikit-learn."""
