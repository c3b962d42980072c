"""KAG's logical plan: the schema the model fills, and its validation.

A plan is a short list of steps; a step may refer to earlier results as #1, #2… Operators:
retrieve (answer a sub-question from graph and chunks), follow (an entity's related
entities), filter (keep earlier items matching a condition), count, compare (max, min,
equal, greater, less over numbers), compute (arithmetic over earlier numbers), deduce (the
final reasoning). Counting, comparing and computing are done in Python, not by the model.
"""

from __future__ import annotations

import json
from typing import Any, Literal

from pydantic import BaseModel, Field, ValidationError

Op = Literal["retrieve", "follow", "filter", "count", "compare", "compute", "deduce"]


class Step(BaseModel):
    op: Op
    question: str = Field(default="", max_length=160)
    entity: str = Field(default="", max_length=60)
    inputs: list[int] = Field(default_factory=list, max_length=4)
    expression: str = Field(default="", max_length=60)


class Plan(BaseModel):
    steps: list[Step] = Field(min_length=1, max_length=6)


PLAN_SCHEMA: dict[str, Any] = Plan.model_json_schema()

PLANNER = {
    "en": (
        "Break the question into a plan of at most 6 steps, as JSON. Each step has an op: "
        "retrieve (find a fact: give a self-contained sub-question; refer to earlier answers "
        "as #1, #2), follow (entities related to an entity), filter (keep items of earlier "
        "steps matching the expression), count (how many items an earlier step found), "
        "compare (max|min|equal|greater|less over earlier numbers), compute (arithmetic over "
        "#1, #2…), deduce (the final answer from earlier steps). 'inputs' lists the step "
        "numbers a step uses. The last step answers the question."
    ),
    "zh": (
        "把问题拆成最多 6 步的计划，输出 JSON。每步有 op：retrieve（查找一个事实：给出独立的子问题，"
        "可用 #1、#2 引用前面的答案）、follow（与某实体相关的实体）、filter（按 expression 筛选前面步骤的结果）、"
        "count（前面步骤找到几项）、compare（对前面的数字做 max|min|equal|greater|less）、"
        "compute（对 #1、#2… 做算术）、deduce（根据前面的步骤得出最终答案）。inputs 列出所用的步骤编号。"
        "最后一步回答问题。"
    ),
}


class PlanError(ValueError):
    pass


def parse_plan(reply: str) -> Plan:
    """Validate the model's plan: JSON, known ops, inputs pointing only at earlier steps."""
    try:
        plan = Plan.model_validate(json.loads(reply))
    except (json.JSONDecodeError, ValidationError) as e:
        raise PlanError(f"plan is not valid JSON for the schema: {str(e).splitlines()[0]}") from e
    for i, step in enumerate(plan.steps, start=1):
        if any(not 1 <= j < i for j in step.inputs):
            raise PlanError(f"step {i} uses a step that does not come before it: {step.inputs}")
        if step.op in ("retrieve", "deduce") and not step.question.strip():
            raise PlanError(f"step {i} ({step.op}) has no question")
        if step.op == "follow" and not step.entity.strip():
            raise PlanError(f"step {i} (follow) names no entity")
        if step.op in ("count", "compare", "compute", "filter") and not step.inputs:
            raise PlanError(f"step {i} ({step.op}) has no inputs")
    return plan
