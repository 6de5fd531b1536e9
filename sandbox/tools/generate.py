"""`task-sandbox generate`: a seeded, realistic world of N tasks (Faker's names, amounts, dates)
written as a fixtures directory that `serve --fixtures` loads like any other."""
from __future__ import annotations

import argparse
import json
import random
import shutil
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path

# Of every 100 tasks, how many in each status: most wait for a person, as on a real platform.
STATUSES = {"REVIEWING": 40, "PROCESSING": 15, "COMPLETED": 25, "DISCARDED": 7, "FAILED": 5, "FILTERED": 8}
FINAL = {"COMPLETED", "DISCARDED", "FAILED", "FILTERED"}
START = datetime(2024, 1, 1, tzinfo=timezone.utc)  # generated times lie in the 180 days after
KINDS = ("invoice", "receipt", "contract", "purchase order", "credit note")


def add_parser(commands) -> None:
    generate = commands.add_parser(
        "generate", help="write a seeded, realistic world of N tasks as a fixtures directory",
        description="Write a fixtures directory: the default world's teams, projects, folders and keys, "
                    "and N generated tasks across the first team's projects, statuses, steps and uploads "
                    "(1 to 5 tasks each), with varied names, meta, entities, amounts, dates and pages. "
                    "The same --seed writes the same world. Serve it with `task-sandbox serve --fixtures DIR`.",
        epilog="example: task-sandbox generate --tasks 5000 --out my-world && task-sandbox serve --fixtures my-world")
    generate.add_argument("--tasks", type=int, default=1000, help="tasks to generate (default: %(default)s)")
    generate.add_argument("--seed", type=int, default=0, help="the world's seed (default: %(default)s)")
    generate.add_argument("--out", type=Path, required=True, metavar="DIR", help="the directory to write")
    generate.add_argument("--force", action="store_true", help="replace DIR's fixture files if it has some")


def run(args: argparse.Namespace) -> int:
    if not 1 <= args.tasks <= 1_000_000:
        print("task-sandbox: --tasks must be between 1 and 1,000,000", file=sys.stderr)
        return 2
    out: Path = args.out
    if out.exists() and not out.is_dir():
        print(f"task-sandbox: {out} is a file; --out names a directory to write", file=sys.stderr)
        return 2
    if out.is_dir() and any(out.glob("*.yaml")) and not args.force:
        print(f"task-sandbox: {out} holds fixture files already; give --force to replace them, or another --out",
              file=sys.stderr)
        return 2
    if args.force:
        for old in out.glob("*.yaml"):  # every file would load beside the new world
            old.unlink()
    count = write(out, args.tasks, args.seed)
    print(f"task-sandbox: wrote {count} tasks to {out}; serve them with: task-sandbox serve --fixtures {out}")
    return 0


def write(out: Path, tasks: int, seed: int) -> int:
    from faker import Faker  # deferred: `--help` stays fast

    from sandbox.fixtures import default_dir

    out.mkdir(parents=True, exist_ok=True)
    shutil.copy(default_dir() / "world.yaml", out / "world.yaml")
    world = World(Faker(), seed)
    uploads, made = [], []
    while len(made) < tasks:
        upload, its_tasks = world.upload(min(random_size(world.rng), tasks - len(made)), len(uploads))
        uploads.append(upload)
        made += its_tasks
    # JSON is YAML, and loads an order of magnitude faster (sandbox/fixtures.py)
    (out / "generated.yaml").write_text(json.dumps({"uploads": uploads, "tasks": made}, indent=1) + "\n")
    return len(made)


def random_size(rng: random.Random) -> int:
    return rng.choice((1, 1, 1, 2, 3, 4, 5))


class World:
    """Everything drawn from one seed: Faker's own generator and a Random for the rest."""

    PROJECTS = {  # the default world's projects of team_123456: steps and what EXTRACT needs
        "proj_123456": (("EXTRACT",), "total_amount"),
        "proj_234567": (("CLASSIFY", "EXTRACT"), "party_name"),
        "proj_345678": (("EXTRACT",), "total_amount"),
        "proj_456789": (("EXTRACT",), None),
        "proj_567890": (("EXTRACT",), None),
    }

    def __init__(self, fake, seed: int):
        fake.seed_instance(seed)
        self.fake, self.rng = fake, random.Random(seed)
        self.statuses = [s for s, n in STATUSES.items() for _ in range(n)]

    def stamp(self, at: datetime) -> str:
        return at.strftime("%Y-%m-%dT%H:%M:%SZ")

    def upload(self, size: int, index: int) -> tuple[dict, list[dict]]:
        fake, rng = self.fake, self.rng
        project = rng.choice(list(self.PROJECTS))
        kind = rng.choice(KINDS)
        company = fake.company()
        created = START + timedelta(seconds=rng.randrange(180 * 86400))
        upload_id = f"upl_g{index:07d}"
        reference = f"{kind[:3].upper()}-{created.year}-{rng.randrange(10**5):05d}"
        meta = [{"name": "reference", "value": reference}, {"name": "customer", "value": company}]
        upload = {"id": upload_id, "project_id": project, "name": f"{company} {kind} {reference}",
                  "created_at": self.stamp(created), "meta": meta}
        tasks = [self.task(upload_id, project, company, kind, meta, created, n, size) for n in range(size)]
        return upload, tasks

    def task(self, upload_id: str, project: str, company: str, kind: str, meta: list, created: datetime,
             n: int, size: int) -> dict:
        fake, rng = self.fake, self.rng
        steps, required = self.PROJECTS[project]
        status = rng.choice(self.statuses)
        if size == 1:
            name = f"{kind.capitalize()} from {company}.pdf"
        elif n == 0:
            name = "Email body"
        else:
            name = f"Attachment {n}: {fake.file_name(extension=rng.choice(('pdf', 'png', 'jpg')))}"
        created_at = created + timedelta(seconds=n + 1)
        task = {"id": f"task_g{upload_id[5:]}{n}", "name": name, "created_at": self.stamp(created_at),
                "meta": [*meta, {"name": "category", "value": kind}], "status": status,
                "step_type": rng.choice(steps) if status != "COMPLETED" else steps[-1], "upload_id": upload_id}
        if status != "PROCESSING":
            task["pages"] = [self.page(i, company, required, status) for i in range(rng.choice((1, 1, 2, 3)))]
        if status in FINAL or rng.random() < 0.3:
            task["last_opened_at"] = self.stamp(created_at + timedelta(minutes=rng.randrange(1, 600)))
        if status == "COMPLETED" and rng.random() < 0.5:
            task["approved"] = True
        return task

    def page(self, i: int, company: str, required: str | None, status: str) -> dict:
        fake, rng = self.fake, self.rng
        values = {"total_amount": f"{fake.currency_symbol()}{rng.randrange(500, 5_000_000) / 100:,.2f}",
                  "invoice_number": fake.bothify("INV-####-??").upper(), "supplier_name": company,
                  "invoice_date": fake.date(), "party_name": fake.company(), "iban": fake.iban()}
        chosen = rng.sample(sorted(values), rng.randrange(2, len(values)))
        # A task waiting for review may lack its required entity (B7): the screen must show why complete fails.
        if required and (status != "REVIEWING" or rng.random() < 0.8) and required not in chosen:
            chosen.append(required)
        annotations = [{"id": f"ann_{i}_{k}", "entity_id": entity, "confidence": round(rng.uniform(0.55, 0.99), 2),
                        "content": values[entity], "top": round(100.0 + 80 * k + rng.random() * 20, 1),
                        "left_of_line": round(rng.uniform(80, 1400), 1)} for k, entity in enumerate(chosen)]
        box = lambda x, y, w, h: [[x, y], [x + w, y], [x + w, y + h], [x, y + h]]  # noqa: E731
        return {"id": f"page_{i + 1}", "width": 2480, "height": 3508, "annotations": annotations,
                "checkboxes": [{"id": f"cb_{i}_{k}", "confidence": round(rng.uniform(0.6, 0.99), 2),
                                "checked": rng.random() < 0.5, "coordinates": box(100, 300 + 60 * k, 20, 20)}
                               for k in range(rng.randrange(0, 3))],
                "segments": [{"id": f"seg_{i}", "confidence": round(rng.uniform(0.7, 0.99), 2),
                              "coordinates": box(50, 50, 2300, rng.randrange(300, 3000))}],
                "signatures": ([{"id": f"sig_{i}", "confidence": round(rng.uniform(0.6, 0.95), 2),
                                 "coordinates": box(1600, 3000, 500, 200)}] if rng.random() < 0.3 else [])}
