"""Training in a separate, lower-priority process with a bounded number of torch threads.

:class:`SubprocessRunner` is the training runner of the retraining cycle: it writes the
:class:`~retraining.trainer.TrainingJob` as a spec (JSON) and runs
``python -m retraining.train_worker SPEC``; the bot's process never imports torch for training
and keeps answering meanwhile. If the worker is killed, nothing is published: the trainer
writes into a temporary directory and moves the model into place only when complete. If the
process that started the worker dies (SIGKILL included), the worker is killed with it: an
orphaned worker would otherwise go on training and publish a model directory under the
version id the next cycle reserves for its own candidate.
"""

from __future__ import annotations

import ctypes
import json
import os
import signal
import subprocess
import sys
import tempfile
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path
from typing import Any

from retraining.stop_points import stop_point
from retraining.trainer import TrainConfig, TrainingExample, TrainingJob, TrainOutcome

PR_SET_PDEATHSIG = 1  # prctl(2): the signal a process gets when its parent dies


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
        # the spec holds users' queries: kept beside the model (under PROMPTBOT_HOME, private)
        # as a ".v*" entry, which the next cycle removes if this process is killed
        job.out_dir.parent.mkdir(parents=True, exist_ok=True)
        prefix = f".{job.out_dir.name}.train-"
        with tempfile.TemporaryDirectory(prefix=prefix, dir=job.out_dir.parent) as tmp:
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
        preexec_fn=_worker_preexec(),
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


def _worker_preexec() -> Callable[[], None]:
    """What the forked worker runs before exec: a lower priority, and death with its parent.

    libc is loaded here, in the parent, so the child between fork and exec only makes calls.
    Linux sends the signal when the forking *thread* ends; that thread waits for the worker.
    """
    parent = os.getpid()
    libc = ctypes.CDLL(None, use_errno=True) if sys.platform.startswith("linux") else None

    def preexec() -> None:
        os.nice(10)  # below the bot's priority
        if libc is not None:
            libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
            if os.getppid() != parent:  # the parent died before the line above
                os._exit(1)

    return preexec


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
    outcome = run_job(read_spec(spec), on_step=_after_step)
    result_file = Path(json.loads(spec.read_text())["result"])
    result_file.write_text(json.dumps(outcome_to_result(outcome)))


def _after_step(step: int, _total: int) -> None:
    if step == 1:
        stop_point("training")


if __name__ == "__main__":
    main(sys.argv[1])
