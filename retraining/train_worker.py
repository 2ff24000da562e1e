"""Training in a separate, lower-priority process with a bounded number of torch threads.

The retraining cycle writes a spec (JSON) and runs ``python -m retraining.train_worker SPEC``;
the bot's process never imports torch for training and keeps answering meanwhile. If this
process is killed, nothing is published: the trainer writes into a temporary directory.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import asdict
from pathlib import Path

from retraining.trainer import TrainConfig, TrainingExample


def write_spec(
    path: Path,
    start_dir: Path,
    base_dir: Path,
    out_dir: Path,
    config: TrainConfig,
    examples: list[TrainingExample],
) -> None:
    examples_file = path.with_suffix(".examples.jsonl")
    with examples_file.open("w", encoding="utf-8") as handle:
        for ex in examples:
            handle.write(json.dumps(asdict(ex), ensure_ascii=False) + "\n")
    path.write_text(
        json.dumps(
            {
                "start_dir": str(start_dir),
                "base_dir": str(base_dir),
                "out_dir": str(out_dir),
                "config": config.to_dict(),
                "examples": str(examples_file),
                "result": str(path.with_suffix(".result.json")),
            }
        )
    )


def run_in_subprocess(
    spec: Path, threads: int, timeout: float | None = None, on_started=None
) -> dict:  # type: ignore[no-untyped-def]
    env = {
        **os.environ,
        "OMP_NUM_THREADS": str(threads),
        "MKL_NUM_THREADS": str(threads),
        "TOKENIZERS_PARALLELISM": "false",
        "HF_HUB_OFFLINE": "1",
    }
    process = subprocess.Popen(
        [sys.executable, "-m", "retraining.train_worker", str(spec)],
        env=env,
        preexec_fn=lambda: os.nice(10),  # below the bot's priority
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    if on_started:
        on_started(process)
    output, _ = process.communicate(timeout=timeout)
    if process.returncode != 0:
        tail = "\n".join(output.strip().splitlines()[-15:])
        raise RuntimeError(f"training process exited with {process.returncode}:\n{tail}")
    return json.loads(Path(json.loads(spec.read_text())["result"]).read_text())


def main(spec_path: str) -> None:
    from retraining.trainer import train_candidate

    spec = json.loads(Path(spec_path).read_text())
    config = TrainConfig(**spec["config"])
    examples = [
        TrainingExample(**json.loads(line))
        for line in Path(spec["examples"]).read_text(encoding="utf-8").splitlines()
    ]
    outcome = train_candidate(
        Path(spec["start_dir"]), Path(spec["base_dir"]), examples, config, Path(spec["out_dir"])
    )
    Path(spec["result"]).write_text(
        json.dumps(
            {
                "model_dir": str(outcome.model_dir),
                "examples": outcome.examples,
                "steps": outcome.steps,
                "seconds": outcome.seconds,
                "final_loss": outcome.final_loss,
                "pairs_per_second": outcome.pairs_per_second,
            }
        )
    )


if __name__ == "__main__":
    main(sys.argv[1])
