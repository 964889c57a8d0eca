"""How long a user waits for a network that is not there, with HF_HUB_OFFLINE unset (target: at most ~10 s per call).

Every download is routed through a proxy that never answers: a local port whose one-slot accept queue is kept full,
so the kernel drops further connection requests, as a network that loses packets does (a refused connection or a
failing DNS lookup would end at once and hide the problem). Each case runs in a fresh process, because probe answers
are kept per process, with empty torch hub and Hugging Face caches; only the call is timed, not the imports.

    python benchmarks/bench_offline.py                     # every case
    python benchmarks/bench_offline.py --cases hub_id --json .benchmarks/offline.json
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
TARGET_S = 10.0
LIMIT_S = 400.0  # a case still waiting after this long is stopped and reported as such
CASES = {
    "hub_id": "DeepLandscapeGenerator.from_pretrained('someone/not-cached')",
    "perceptual_auto": "the pipeline's perceptual='auto' (VGG19 weights not cached)",
    "segmenter_auto": "pipeline.segment(photo, 'auto') (segmentation model not cached)",
    "encoder_imagenet": "DeepLandscapeEncoder(EncoderConfig(backbone='resnet18')) (ImageNet trunk not cached)",
}


def _route_downloads_nowhere(cache_root: str) -> list[socket.socket]:
    """Point every proxy variable at a port that never answers and every cache at an empty folder."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(0)
    filler = socket.create_connection(server.getsockname(), timeout=1)  # fills the queue: later SYNs are dropped
    for name in ("HTTPS_PROXY", "HTTP_PROXY", "https_proxy", "http_proxy"):
        os.environ[name] = f"http://127.0.0.1:{server.getsockname()[1]}"
    for name in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "NO_PROXY", "no_proxy"):
        os.environ.pop(name, None)
    os.environ["TORCH_HOME"] = os.path.join(cache_root, "torch")
    os.environ["HF_HOME"] = os.path.join(cache_root, "hf")
    return [server, filler]


def _worker(case: str) -> None:
    """Run one case in this process and print its result as one JSON line."""
    sockets = _route_downloads_nowhere(tempfile.mkdtemp(prefix="bench_offline_"))
    from transformers import AutoImageProcessor, AutoModelForSemanticSegmentation  # noqa: F401 - seconds, not timed

    from deeplandscape_hf import DeepLandscapeGenerator, DeepLandscapePipeline
    from deeplandscape_hf.networks.encoder import DeepLandscapeEncoder, EncoderConfig

    pipe = DeepLandscapePipeline.from_pretrained()  # the bundled model: no network needed
    photo = sorted((REPO / "examples").glob("*.jpg"))[0]
    calls = {
        "hub_id": lambda: DeepLandscapeGenerator.from_pretrained("someone/not-cached"),
        "perceptual_auto": lambda: pipe._perceptual_loss("auto"),  # what invert() asks first, without the fitting
        "segmenter_auto": lambda: pipe.segment(photo, "auto"),
        "encoder_imagenet": lambda: DeepLandscapeEncoder(EncoderConfig(backbone="resnet18")),
    }
    start = time.perf_counter()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            calls[case]()
            outcome = "returned"
        except Exception as error:  # the clear error is an expected outcome: it is reported, not raised
            outcome = f"raised {type(error).__name__}: {error}"
    seconds = time.perf_counter() - start
    messages = [str(w.message) for w in caught if issubclass(w.category, UserWarning)]
    print(json.dumps({"case": case, "seconds": seconds, "outcome": outcome, "warnings": messages}), flush=True)
    for sock in sockets:
        sock.close()


def _run_case(case: str) -> dict:
    command = [sys.executable, __file__, "--worker", case]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")])}
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=LIMIT_S, env=env, check=False)
    except subprocess.TimeoutExpired:
        return {"case": case, "seconds": LIMIT_S, "outcome": f"still waiting after {LIMIT_S:.0f} s", "warnings": []}
    lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
    if not lines:
        failure = f"worker failed: {done.stderr[-500:]}"
        return {"case": case, "seconds": float("nan"), "outcome": failure, "warnings": []}
    return json.loads(lines[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cases", nargs="+", choices=list(CASES), default=list(CASES))
    parser.add_argument("--json", type=Path, help="also write the results here")
    parser.add_argument("--worker", choices=list(CASES), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        _worker(args.worker)
        return
    results = []
    print(f"| case | what | s until fallback or error (target <= {TARGET_S:.0f}) | outcome |\n|---|---|---|---|")
    for case in args.cases:
        result = _run_case(case)
        results.append(result)
        first = (result["warnings"] or [result["outcome"]])[0]
        print(f"| {case} | {CASES[case]} | {result['seconds']:.1f} | {first[:150]} |", flush=True)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps({"target_s": TARGET_S, "results": results}, indent=2))


if __name__ == "__main__":
    main()
