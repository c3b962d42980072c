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

# Worked examples teach a small model the shape of a plan better than a list of rules: without
# them Qwen 1.5B listed every operator in order. They are invented, not taken from any dataset.
_EXAMPLES_EN: list[tuple[str, list[dict[str, Any]]]] = [
    # a question about one fact is one lookup: without this example, 3 of 6 hotpotqa plans
    # added a filter or compare step that only cost decoding time (docs/benchmarks.md)
    ("Which company makes the Lumen X2 phone?",
     [{"op": "retrieve", "question": "Which company makes the Lumen X2 phone?"}]),
    ("In which country was the director of the film Blue Harbour born?",
     [{"op": "retrieve", "question": "Who directed the film Blue Harbour?"},
      {"op": "retrieve", "question": "In which country was #1 born?"}]),
    ("Which is longer, the Arno river or the Tiber river?",
     [{"op": "retrieve", "question": "How long is the Arno river?"},
      {"op": "retrieve", "question": "How long is the Tiber river?"},
      {"op": "compare", "expression": "max", "inputs": [1, 2]},
      {"op": "deduce", "question": "Which is longer, the Arno (#1) or the Tiber (#2)?",
       "inputs": [1, 2, 3]}]),
    ("How many years after its founding did Acme Steel open its first foreign plant?",
     [{"op": "retrieve", "question": "In which year was Acme Steel founded?"},
      {"op": "retrieve", "question": "In which year did Acme Steel open its first foreign plant?"},
      {"op": "compute", "expression": "#2 - #1", "inputs": [1, 2]}]),
]  # fmt: skip
_EXAMPLES_ZH: list[tuple[str, list[dict[str, Any]]]] = [
    ("蓝港电影的导演出生在哪个国家？",
     [{"op": "retrieve", "question": "蓝港电影的导演是谁？"},
      {"op": "retrieve", "question": "#1 出生在哪个国家？"}]),
    ("华东三省中有几个省份设立了自贸区？",
     [{"op": "retrieve", "question": "哪些华东省份设立了自贸区？"},
      {"op": "count", "inputs": [1]}]),
]  # fmt: skip


def _shots(examples: list[tuple[str, list[dict[str, Any]]]], q: str, plan: str) -> str:
    return "\n\n".join(
        f"{q}: {question}\n{plan}: {json.dumps({'steps': steps}, ensure_ascii=False)}"
        for question, steps in examples
    )


PLANNER = {
    "en": (
        "Break the question into the fewest steps that answer it (usually 2 or 3, at most 6), "
        "as JSON. Operators: retrieve (look up one fact; write a self-contained sub-question "
        "and refer to earlier answers as #1, #2), follow (entities related to a named entity), "
        "filter (keep the items of earlier steps that contain the expression), count (how many "
        "items earlier steps found), compare (max, min, equal, greater or less over earlier "
        "numbers), compute (arithmetic such as #2 - #1), deduce (reason over earlier steps). "
        "'inputs' lists the earlier step numbers a step uses. Use only the operators the "
        "question needs: filter, count, compare and compute only when it asks to pick out, "
        "count, compare or calculate.\n\nExamples:\n\n" + _shots(_EXAMPLES_EN, "Question", "Plan")
    ),
    "zh": (
        "把问题拆成能回答它的最少步骤（通常 2 到 3 步，最多 6 步），输出 JSON。操作："
        "retrieve（查找一个事实：写出独立的子问题，用 #1、#2 引用前面的答案）、follow（与某实体相关的实体）、"
        "filter（保留前面步骤中包含 expression 的项）、count（前面步骤找到几项）、"
        "compare（对前面的数字做 max、min、equal、greater 或 less）、compute（算术，如 #2 - #1）、"
        "deduce（根据前面的步骤推理）。inputs 列出所用的前面步骤编号。只用问题需要的操作。"
        "\n\n示例：\n\n" + _shots(_EXAMPLES_ZH, "问题", "计划")
    ),
}


class PlanError(ValueError):
    pass


def parse_plan(reply: str) -> Plan:
    """Validate the model's plan: JSON, known ops, inputs pointing only at earlier steps.

    A step that works on earlier results but names none gets the step before it.
    """
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
            if i == 1:
                raise PlanError(f"step 1 ({step.op}) has no earlier step to work on")
            # small models often leave inputs out; the step before is what they mean
            step.inputs = [i - 1]
    return plan
