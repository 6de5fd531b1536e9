"""A task's extracted entities: validation on complete (B7) and predictions (B6 automation)."""
from __future__ import annotations


from sandbox.domain.model import Project, Task, evolve, freeze

EXTRACT = "EXTRACT"
BLANK_PAGE = {"width": 2480, "height": 3508}  # A4 at 300 dpi, as the upstream example


def _contents(task: Task) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for page in task.pages:
        for annotation in page.get("annotations", []):
            found.setdefault(annotation["entity_id"], []).append(annotation["content"])
    return found


def problems(task: Task, project: Project) -> list[dict]:
    """One detail per required entity that is missing or empty; only the extraction step requires any."""
    if task.step_type != EXTRACT:
        return []
    found = _contents(task)
    out = []
    for entity in project.required_entities:
        values = found.get(entity)
        if not values:
            out.append({"location": f"entities.{entity}", "message": f"required entity {entity} is missing"})
        elif not any(v.strip() for v in values):
            out.append({"location": f"entities.{entity}", "message": f"required entity {entity} has empty content"})
    return out


def predict(task: Task, project: Project, new_id) -> Task:
    """The task with what auto_predict adds once it reaches extraction: a guess for each
    required entity it lacks. `new_id(prefix)` comes from the session's seeded id source."""
    if task.step_type != EXTRACT or project.automation == "none":
        return task
    pages = task.pages or ({"id": new_id("page"), **BLANK_PAGE, "annotations": [], "checkboxes": [],
                            "segments": [], "signatures": []},)
    found = _contents(task)
    page = pages[0]
    added = [{"id": new_id("ann"), "entity_id": entity, "confidence": 0.9,
              "content": f"{entity} (predicted)", "top": 100.0 + 50 * i, "left_of_line": 100.0}
             for i, entity in enumerate(e for e in project.required_entities if e not in found)]
    if added:
        pages = ({**page, "annotations": [*page["annotations"], *added]}, *pages[1:])
    return evolve(task, pages=freeze(pages)) if pages is not task.pages else task
