"""What the harness costs on a real pipeline run: a session of pipeline tests with pytest-repro vs bare.

Run:  python benchmarks/overhead.py                  (cpu: ~1 min on 2 cores)
      python benchmarks/overhead.py --device cuda    (the same on a GPU; issue 10's item 6)
      python benchmarks/overhead.py --smoke          (2 tests, one round: what CI runs)

Each side is a pytest session of n tests, each running the bundled suite's tiny DDIM pipeline (UNet 32x32,
2 steps, the shipped checkpoint) on the device, loaded once per session:
  bare      ``-p no:repro``; a CPU ``torch.Generator`` seeded by hand, no check: what a test does without us;
  repro     ``repro_backend``, ``repro_generator``, ``repro_golden.check`` with the plugin's defaults, so
            determinism on (deterministic algorithms; on CUDA also TF32 off, cuBLAS workspace): what a
            user pays;
  repro, determinism off   the same with ``--repro-no-deterministic``: the plugin's own share of it.
Sessions run interleaved (bare, repro, repro off, bare, ...). Each cell is the median of the tests' own
time (setup, call and teardown, as pytest's junit XML gives it: not the start-up, imports and the load at
collection, which both sides pay alike), its range and the ratio to bare; the last line is the difference
per test. Nothing is asserted.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
from pathlib import Path
from xml.etree import ElementTree

from bench import pytest_ok, row

TEST = """
import pytest
import torch
from diffusers import DDIMPipeline
from pytest_repro.suite.checkpoints import TINY_DDPM

DEVICE = {device!r}
PIPE = DDIMPipeline.from_pretrained(TINY_DDPM).to(DEVICE)  # once per session, on both sides
PIPE.set_progress_bar_config(disable=True)


@pytest.mark.parametrize("i", range({n}))
def test_pipeline(i, {fixtures}):
    {body}
"""
BARE = ("generator = torch.Generator('cpu').manual_seed(0)\n"
        "    PIPE(num_inference_steps=2, output_type='np', generator=generator)")
REPRO = ("image = PIPE(num_inference_steps=2, output_type='np', generator=repro_generator(0)).images\n"
         "    repro_golden.check(image)")


def tests_time(command: list[str], cwd: Path) -> float:
    """The session's tests' own time (setup, call and teardown, from pytest's junit XML): without the
    start-up, imports and the pipeline's load at collection, which both sides pay alike."""
    with tempfile.TemporaryDirectory() as tmp:
        xml = Path(tmp) / "junit.xml"
        pytest_ok([*command, f"--junitxml={xml}"], cwd)
        return sum(float(case.get("time", 0.0)) for case in ElementTree.parse(xml).iter("testcase"))


def bench_overhead(device: str, n: int, rounds: int) -> list[str]:
    backend = "cpu" if device == "cpu" else "cuda"
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        for side, fixtures, body in (("bare", "request", BARE), ("repro", "repro_generator, repro_golden", REPRO)):
            (root / side).mkdir()
            (root / side / "test_o.py").write_text(TEST.format(device=device, n=n, fixtures=fixtures, body=body))
        run = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "no:xdist"]
        repro = [*run, f"--repro-backend={backend}"]
        # the goldens, in the temporary folder (--repro-allow-ci-regen: also where $CI is set)
        pytest_ok([*repro, "--repro-regen", "--repro-allow-ci-regen"], root / "repro")
        commands = {"bare": ("bare", [*run, "-p", "no:repro"]), "repro": ("repro", repro),
                    "repro, determinism off": ("repro", [*repro, "--repro-no-deterministic"])}
        times: dict[str, list[float]] = {name: [] for name in commands}
        for _ in range(rounds):  # interleaved, as bench.interleaved, but timing the tests alone
            for name, (folder, command) in commands.items():
                times[name].append(tests_time(command, root / folder))
    bare = statistics.median(times["bare"])
    extra = ", ".join(f"{name} {(statistics.median(values) - bare) / n * 1e3:+.1f} ms"
                      for name, values in times.items() if name != "bare")
    return [row(f"{n} DDIM tests on {device}", times, "bare"), f"per test, against bare: {extra}"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    parser.add_argument("--tests", type=int, default=20, help="tests per session (default 20)")
    parser.add_argument("--rounds", type=int, default=5, help="sessions per side (default 5)")
    parser.add_argument("--smoke", action="store_true", help="2 tests, one round: a CI smoke test")
    args = parser.parse_args()
    try:
        import torch
    except ImportError:
        parser.error("needs torch and diffusers: pip install -e '.[diffusers]'")
    if args.device == "cuda" and not torch.cuda.is_available():
        parser.error("--device cuda: no CUDA device here")
    n, rounds = (2, 1) if args.smoke else (args.tests, args.rounds)
    where = torch.cuda.get_device_name() if args.device == "cuda" else f"{torch.get_num_threads()} threads"
    print(f"harness overhead (medians of interleaved sessions, xN = ratio to bare): torch {torch.__version__}, "
          f"{args.device} ({where})")
    for line in bench_overhead(args.device, n, rounds):
        print(line)


if __name__ == "__main__":
    main()
