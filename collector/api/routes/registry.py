"""Registry administration: departments, counters, officers, who staffs which counter when, and which
box sits at which counter when. Reading needs any login; changing needs the admin role. Changes go
through collector.registry, the same checks as `rating-collector registry load` (overlaps, unknown
codes, box id format), and are upserts on the natural keys: posting an assignment again with a `to`
closes it."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from fastapi import APIRouter, HTTPException
from pydantic import BaseModel, Field, field_validator
from sqlmodel import Session, col, select

from collector.api.deps import AdminDep, PrincipalDep, SessionDep, SettingsDep
from collector.api.models import (
    BoxAssignmentPublic,
    CounterPublic,
    DepartmentPublic,
    OfficerAssignmentPublic,
    OfficerPublic,
    RetiredBoxPublic,
)
from collector.clock import utc_now
from collector.models import Counter, CounterBox, CounterOfficer, Department, Officer
from collector.registry import Entry, RegistryError, apply_entries
from collector.retirement import RetireError, retire_box

router = APIRouter(prefix="/api/v1/registry", tags=["registry"])

Code = Field(min_length=1, max_length=32, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
Name = Field(min_length=1, max_length=200)
When = Field(default=None, max_length=40, description="YYYY-MM-DD (local midnight) or an ISO date-time")


class _Body(BaseModel):
    @field_validator("*")
    @classmethod
    def _printable(cls, value: Any) -> Any:
        if isinstance(value, str) and not value.isprintable():
            raise ValueError("must not contain control characters")
        return value


class DepartmentIn(_Body):
    code: str = Code
    name: str = Name
    site: str | None = Field(default=None, max_length=32, description="the center the department belongs to")


class CounterIn(_Body):
    code: str = Field(min_length=1, max_length=16, pattern=r"^[A-Za-z0-9][A-Za-z0-9_-]*$")
    name: str = Name
    department: str = Code
    scale: Literal["sat2", "vn3", "smiley4"] = "sat2"


class OfficerIn(_Body):
    code: str = Code
    name: str = Name
    department: str | None = Field(default=None, min_length=1, max_length=32)


class BoxAssignmentIn(_Body):
    box: str = Field(min_length=1, max_length=32, description="like box-017")
    counter: str = Field(min_length=1, max_length=16)
    from_: str | None = Field(default=None, alias="from", max_length=40)
    to: str | None = When


class OfficerAssignmentIn(_Body):
    officer: str = Field(min_length=1, max_length=32)
    counter: str = Field(min_length=1, max_length=16)
    from_: str | None = Field(default=None, alias="from", max_length=40)
    to: str | None = When


def _apply(session: Session, kind: str, fields: dict[str, Any], tz: str) -> None:
    fields = {k: v for k, v in fields.items() if v is not None}
    try:
        apply_entries(session, [Entry(kind, fields, "request")], tz)
    except RegistryError as error:
        session.rollback()
        raise HTTPException(422, [p.removeprefix("request: ") for p in error.problems]) from None
    except ValueError as error:  # defensive: a value the loader could not read
        session.rollback()
        raise HTTPException(422, str(error)) from None


def _when(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


@router.get("/departments", summary="Departments (units)",
            response_model=list[DepartmentPublic])
def list_departments(session: SessionDep, _who: PrincipalDep) -> list[dict[str, Any]]:
    return [{"code": d.code, "name": d.name, "site": d.site}
            for d in session.exec(select(Department).order_by(col(Department.code))).all()]


@router.post("/departments", status_code=201, summary="Add or rename a department (admin)",
             response_model=DepartmentPublic)
def put_department(body: DepartmentIn, session: SessionDep, settings: SettingsDep, _admin: AdminDep) -> dict[str, Any]:
    _apply(session, "department", {"code": body.code, "name": body.name}, settings.timezone)
    department = session.exec(select(Department).where(Department.code == body.code)).one()
    department.site = body.site
    session.add(department)
    session.commit()
    return {"code": department.code, "name": department.name, "site": department.site}


@router.get("/counters", summary="Counters, their department and scale",
            response_model=list[CounterPublic])
def list_counters(session: SessionDep, _who: PrincipalDep) -> list[dict[str, Any]]:
    departments = {d.id: d.code for d in session.exec(select(Department)).all()}
    return [{"code": c.code, "name": c.name, "department": departments.get(c.department_id), "scale": c.scale}
            for c in session.exec(select(Counter).order_by(col(Counter.code))).all()]


@router.post("/counters", status_code=201, summary="Add or change a counter (admin)",
             response_model=CounterPublic)
def put_counter(body: CounterIn, session: SessionDep, settings: SettingsDep, _admin: AdminDep) -> dict[str, Any]:
    _apply(session, "counter", body.model_dump(), settings.timezone)
    session.commit()
    return body.model_dump()


@router.get("/officers", summary="Officers and their department",
            response_model=list[OfficerPublic])
def list_officers(session: SessionDep, _who: PrincipalDep) -> list[dict[str, Any]]:
    departments = {d.id: d.code for d in session.exec(select(Department)).all()}
    return [{"code": o.code, "name": o.name, "department": departments.get(o.department_id)}
            for o in session.exec(select(Officer).order_by(col(Officer.code))).all()]


@router.post("/officers", status_code=201, summary="Add or change an officer (admin)",
             response_model=OfficerPublic)
def put_officer(body: OfficerIn, session: SessionDep, settings: SettingsDep, _admin: AdminDep) -> dict[str, Any]:
    _apply(session, "officer", body.model_dump(), settings.timezone)
    session.commit()
    return body.model_dump()


@router.get("/officer-assignments", summary="Who staffs which counter when (to: exclusive, null: still)",
            response_model=list[OfficerAssignmentPublic])
def list_officer_assignments(session: SessionDep, _who: PrincipalDep) -> list[dict[str, Any]]:
    rows = session.exec(
        select(CounterOfficer, Counter, Officer).join(Counter).join(Officer)
        .order_by(col(Counter.code), col(CounterOfficer.valid_from))
    ).all()
    return [{"officer": o.code, "counter": c.code, "from": _when(a.valid_from), "to": _when(a.valid_to)}
            for a, c, o in rows]


@router.post("/officer-assignments", status_code=201, summary="Put an officer on a counter, or close it (admin)",
             response_model=OfficerAssignmentPublic)
def put_officer_assignment(
    body: OfficerAssignmentIn, session: SessionDep, settings: SettingsDep, _admin: AdminDep
) -> dict[str, Any]:
    _apply(session, "officer_assignment", {"officer": body.officer, "counter": body.counter, "from": body.from_,
                                           "to": body.to}, settings.timezone)
    session.commit()
    return body.model_dump(by_alias=True)


@router.get("/boxes", summary="Which box sits at which counter when (to: exclusive, null: still)",
            response_model=list[BoxAssignmentPublic])
def list_boxes(session: SessionDep, _who: PrincipalDep) -> list[dict[str, Any]]:
    rows = session.exec(
        select(CounterBox, Counter).join(Counter).order_by(col(CounterBox.box), col(CounterBox.valid_from))
    ).all()
    return [{"box": b.box, "counter": c.code, "from": _when(b.valid_from), "to": _when(b.valid_to)} for b, c in rows]


@router.post("/boxes", status_code=201, summary="Install a box at a counter, or close it (admin)",
             response_model=BoxAssignmentPublic)
def put_box(body: BoxAssignmentIn, session: SessionDep, settings: SettingsDep, _admin: AdminDep) -> dict[str, Any]:
    _apply(session, "box", {"box": body.box, "counter": body.counter, "from": body.from_, "to": body.to},
           settings.timezone)
    session.commit()
    return body.model_dump(by_alias=True)


@router.post("/boxes/{box}/retire", summary="Take a box out of service for good (admin)",
             response_model=RetiredBoxPublic)
def post_retire_box(box: str, session: SessionDep, settings: SettingsDep, _admin: AdminDep) -> dict[str, Any]:
    """Revoke the box's broker account (the broker running here re-reads it: a connected box is cut
    off), close its current assignment and mark it retired; its presses and history stay. Again on a
    retired box: nothing changes (`already_retired`). 404 for a box neither registered nor heard from."""
    if len(box) > 32:
        raise HTTPException(422, "a box id has at most 32 characters")
    try:
        done = retire_box(session, box, broker_dir=settings.broker_dir, tz_name=settings.timezone, now=utc_now())
    except RetireError as error:
        session.rollback()
        raise HTTPException(error.status, str(error)) from None
    return {**done.__dict__, "assignment_closed_at": _when(done.assignment_closed_at),
            "retired_at": _when(done.retired_at)}
