"""``python -m odyssey_training``: the main job, ``odyssey-train`` (see
:mod:`odyssey_training.job`)."""

from .job.cli import main

if __name__ == "__main__":
    raise SystemExit(main())
