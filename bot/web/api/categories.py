"""``GET /categories``: the live intake flow's category tree, the codes ``PATCH /tickets/{number}``
takes for its four levels, each with its names in both languages."""

from __future__ import annotations

from collections.abc import Sequence

from fastapi import APIRouter
from pydantic import BaseModel
from sqlmodel import Session

from bot.web.api.deps import CallerDep, TousuDep
from dialogues.model import Category


class CategoryOut(BaseModel):
    code: str
    name_zh: str
    name_en: str
    children: list[CategoryOut]


router = APIRouter(tags=["tickets"])


def _out(tree: Sequence[Category]) -> list[CategoryOut]:
    return [
        CategoryOut(
            code=c.code, name_zh=c.label.get("zh"), name_en=c.label.get("en"), children=_out(c.children)
        )
        for c in tree
    ]


@router.get("/categories", response_model=list[CategoryOut])
async def categories(caller: CallerDep, tousu: TousuDep) -> list[CategoryOut]:
    """Level 1 at the top, each finer level under its parent (at most four levels)."""

    def tree(session: Session) -> list[CategoryOut]:
        try:
            _, flow = tousu.catalog.live(session, name="intake")
        except LookupError:
            return []
        return _out(flow.categories)

    return await tousu.db.read(tree)
