"""Training in a separate, lower-priority process with a bounded number of torch threads.

:class:`SubprocessRunner` is the training runner of the retraining cycle: it writes the
:class:`~retraining.trainer.TrainingJob` as a spec (JSON) and runs
``python -m retraining.train_worker SPEC``; the bot's process never imports torch for training
and keeps answering meanwhile. If the worker is killed, nothing is published: the trainer
writes into a temporary directory and moves the model into place only when complete.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path
from typing import Any

from retraining.trainer import TrainConfig, TrainingExample, TrainingJob, TrainOutcome


class SubprocessRunner:
    """Runs a training job in a worker process at lower priority, ``threads`` torch threads.

    ``on_started`` receives the ``subprocess.Popen`` (tests kill it to prove crash safety).
    """

    def __init__(
        self,
        threads: int,
        on_started: Callable[[subprocess.Popen[str]], None] | None = None,
        timeout: float | None = None,
    ) -> None:
        self.threads = threads
        self.on_started = on_started
        self.timeout = timeout

    def __call__(self, job: TrainingJob) -> TrainOutcome:
        with tempfile.TemporaryDirectory(prefix="promptbot-train-") as tmp:
            spec = Path(tmp) / "spec.json"
            write_spec(spec, job)
            result = run_in_subprocess(spec, self.threads, self.timeout, self.on_started)
        return outcome_from_result(result, job.config)


def write_spec(path: Path, job: TrainingJob) -> None:
    examples_file = path.with_suffix(".examples.jsonl")
    with examples_file.open("w", encoding="utf-8") as handle:
        for ex in job.examples:
            handle.write(json.dumps(asdict(ex), ensure_ascii=False) + "\n")
    spec = {
        "start_dir": str(job.start_dir),
        "base_dir": str(job.base_dir),
        "out_dir": str(job.out_dir),
        "model_name": job.model_name,
        "config": job.config.to_dict(),
        "examples": str(examples_file),
        "result": str(path.with_suffix(".result.json")),
    }
    path.write_text(json.dumps(spec))


def read_spec(path: Path) -> TrainingJob:
    spec = json.loads(path.read_text())
    examples = [
        TrainingExample(**json.loads(line))
        for line in Path(spec["examples"]).read_text(encoding="utf-8").splitlines()
    ]
    return TrainingJob(
        Path(spec["start_dir"]),
        Path(spec["base_dir"]),
        examples,
        TrainConfig(**spec["config"]),
        Path(spec["out_dir"]),
        spec["model_name"],
    )


def run_in_subprocess(
    spec: Path,
    threads: int,
    timeout: float | None = None,
    on_started: Callable[[subprocess.Popen[str]], None] | None = None,
) -> dict[str, Any]:
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
    result: dict[str, Any] = json.loads(Path(json.loads(spec.read_text())["result"]).read_text())
    return result


def outcome_to_result(outcome: TrainOutcome) -> dict[str, Any]:
    return {
        "model_dir": str(outcome.model_dir),
        "examples": outcome.examples,
        "steps": outcome.steps,
        "seconds": outcome.seconds,
        "final_loss": outcome.final_loss,
        "loss_history": outcome.loss_history,
    }


def outcome_from_result(result: dict[str, Any], config: TrainConfig) -> TrainOutcome:
    return TrainOutcome(
        model_dir=Path(result["model_dir"]),
        examples=result["examples"],
        steps=result["steps"],
        seconds=result["seconds"],
        final_loss=result["final_loss"],
        config=config,
        loss_history=list(result.get("loss_history", [])),
    )


def main(spec_path: str) -> None:
    from retraining.trainer import run_job

    spec = Path(spec_path)
    outcome = run_job(read_spec(spec))
    result_file = Path(json.loads(spec.read_text())["result"])
    result_file.write_text(json.dumps(outcome_to_result(outcome)))


if __name__ == "__main__":
    main(sys.argv[1])
