from glob import glob

from setuptools import find_packages, setup

PACKAGE = "yolo_stereo_trt"

setup(
    name=PACKAGE,
    version="0.1.0",
    packages=find_packages(exclude=["test"]),
    data_files=[
        ("share/ament_index/resource_index/packages", [f"resource/{PACKAGE}"]),
        (f"share/{PACKAGE}", ["package.xml"]),
        (f"share/{PACKAGE}/launch", glob("launch/*.launch.*")),
        (f"share/{PACKAGE}/config", glob("config/*.yaml") + glob("config/*.xml")
                                          + glob("config/*.rviz") + glob("config/*.json")),
        (f"share/{PACKAGE}/models", glob("models/*.onnx") + glob("models/*.md")),
    ],
    install_requires=["setuptools", "numpy", "opencv-python-headless", "scipy", "numba", "onnx",
                      "onnxruntime", "pyyaml", "tqdm"],
    extras_require={"bags": ["rosbags"], "eval": ["faster-coco-eval"],
                    "engine": ["onnxconverter-common", "cuda-python"],
                    "test": ["pytest", "rosbags", "faster-coco-eval", "onnxconverter-common",
                             "mypy", "tensorrt-rtx-cu13-libs", "tensorrt-rtx-cu13-bindings"]},
    zip_safe=True,
    maintainer="Driverless perception team",
    maintainer_email="driverless@example.org",
    description="Stereo cone detection with batch-2 YOLO inference (TensorRT / ONNX Runtime)",
    license="Apache-2.0",
    python_requires=">=3.10",
    entry_points={
        "console_scripts": [
            f"stereo_detector = {PACKAGE}.ros.entry:main",
            f"detect_images = {PACKAGE}.tools.detect_images:main",
            f"make_demo_model = {PACKAGE}.data.standin_model:main",
            f"stereo_demo = {PACKAGE}.tools.demo:main",
            f"benchmark_host = {PACKAGE}.tools.benchmark_host:main",
            f"benchmark_node = {PACKAGE}.tools.benchmark_node:main",
            f"make_synthetic = {PACKAGE}.tools.make_synthetic:main",
            f"evaluate = {PACKAGE}.tools.evaluate:main",
            f"play_bag = {PACKAGE}.tools.play_bag:main",
            f"stereo_accuracy = {PACKAGE}.tools.stereo_accuracy:main",
            f"build_engine = {PACKAGE}.tools.build_engine:main",
            f"quantize = {PACKAGE}.tools.quantize:main",
            f"benchmark = {PACKAGE}.tools.benchmark:main",
            f"trt_check = {PACKAGE}.tools.trt_check:main",
            f"evaluate_bag = {PACKAGE}.tools.evaluate_bag:main",
            f"check_stereo_rig = {PACKAGE}.tools.check_stereo_rig:main",
        ],
    },
)
