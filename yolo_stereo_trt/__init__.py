"""yolo_stereo_trt: stereo cone detection with one batch-2 YOLO inference per stereo pair."""
__version__ = "0.1.0"
