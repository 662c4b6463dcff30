"""Operators: episode jobs that failed every attempt, and sending them back to the queue."""

from __future__ import annotations

from fastapi import APIRouter, Query

from api.deps import AdminUser, ServicesDep
from api.schemas import ERROR_RESPONSES, FailedJobList, FailedJobOut

router = APIRouter(prefix="/jobs", tags=["jobs"])


@router.get("/failed", response_model=FailedJobList, responses=ERROR_RESPONSES)
async def list_failed(
    _: AdminUser, services: ServicesDep, limit: int = Query(50, ge=1, le=500)
) -> FailedJobList:
    """Dead-lettered episode jobs, newest first, each with its last error."""
    failed = await services.jobs.failed(limit=limit)
    return FailedJobList(items=[FailedJobOut.model_validate(j) for j in failed])


@router.post("/{job_id}/retry", response_model=FailedJobOut, responses=ERROR_RESPONSES)
async def retry(job_id: int, _: AdminUser, services: ServicesDep) -> FailedJobOut:
    """Queue a failed job again with a fresh set of attempts (404 if it is not failed)."""
    return FailedJobOut.model_validate(await services.jobs.retry(job_id))
