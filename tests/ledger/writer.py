"""A pipeline-like writer run as a real subprocess by the kill, resume and concurrency tests.

    python tests/ledger/writer.py URL [--seed N] [--start ISO] [--reverse] [--catalogue-only]
                                      [--kill-after N] [--start-at EPOCH]

It writes a seeded sample the way the stages do (scenes + observations, detections per scene,
a run, the estimate). ``--kill-after N`` SIGKILLs this process right after its N-th SQL statement
(wherever that is: inside a migration, a transaction, between transactions). It prints the number
of statements it executed.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import time
from datetime import datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import sqlalchemy as sa  # noqa: E402
from sqlalchemy import event  # noqa: E402

from ledger.factory import MODEL, build  # noqa: E402
from pipeline.ledger.store import Ledger  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("url")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--start", default="2024-03-01T02:10:00+00:00")
    ap.add_argument("--n-scenes", type=int, default=16)
    ap.add_argument("--reverse", action="store_true")
    ap.add_argument("--catalogue-only", action="store_true")
    ap.add_argument("--kill-after", type=int, default=0)
    ap.add_argument("--start-at", type=float, default=0.0)
    ap.add_argument("--config-tag", default="", help="a different config: a different run")
    args = ap.parse_args()

    count = {"n": 0}

    def after(*_a: object) -> None:
        count["n"] += 1
        if args.kill_after and count["n"] >= args.kill_after:
            os.kill(os.getpid(), signal.SIGKILL)

    event.listen(sa.engine.Engine, "after_cursor_execute", after)
    sample = build(seed=args.seed, n_scenes=args.n_scenes, start=datetime.fromisoformat(args.start))
    scenes = sample.scenes[::-1] if args.reverse else sample.scenes
    if args.start_at:
        time.sleep(max(0.0, args.start_at - time.time()))
    led = Ledger(args.url)
    for s in scenes:
        if not led.has_scene(s.id):
            led.add_scene(s, sample.observations[s.id])
    for s in scenes:
        if not led.scene_done(s.id, MODEL):
            led.add_detections(s.id, MODEL, sample.detections[s.id])
    if not args.catalogue_only:
        config = {"scenario": "seeded", "seed": args.seed}
        if args.config_tag:
            config["tag"] = args.config_tag
        run_id = led.begin_run(config, MODEL)
        for d in sample.deliveries:
            d.run_id = run_id
        led.save_estimate(run_id, sample.visits, sample.deliveries, sample.coverage)
    led.close()
    print(count["n"])


if __name__ == "__main__":
    main()
