"""The issuer profile: the operator's own legal name, tax id, address and bank, printed on every document."""

from fastapi import APIRouter

from billing.services import issuer
from kashi.api.deps import ConnDep, Operator, Reader
from kashi.api.schemas.parties import IssuerProfile
from kashi.errors import NotFound

router = APIRouter(tags=["issuer"])


@router.put("/issuer")
def put_issuer(conn: ConnDep, principal: Operator, body: IssuerProfile) -> dict:
    """Set the issuer profile (appended as an event: earlier versions stay readable in its stream).
    Documents issued from now on carry it; those already issued keep the profile they were issued with."""
    return issuer.put(conn, body.model_dump(), actor=f"key:{principal.key_id}")


@router.get("/issuer")
def get_issuer(conn: ConnDep, principal: Reader) -> dict:
    """The issuer profile in force; 404 until one is set."""
    found = issuer.current(conn)
    if found is None:
        raise NotFound("the issuer profile is not set: PUT /v1/issuer", [{"field": "issuer", "reason": "not set"}])
    return found
