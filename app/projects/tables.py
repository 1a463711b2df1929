"""Projects and who belongs to them."""

from piccolo.columns import JSON, UUID, ForeignKey, Integer, Timestamptz, Varchar
from piccolo.columns.base import OnDelete
from piccolo.table import Table

from app.accounts.tables import User


class Project(Table, tablename="projects"):
    id = UUID(primary_key=True)
    name = Varchar(length=100, null=False)
    created_at = Timestamptz(null=False)
    # Bumped with every change to the project's LLM keys; read together with the API key on each
    # proxied request, it tells every server process when its routing cache is stale.
    llm_keys_version = Integer(null=False, default=0)
    # The project's token and spend budgets (app/api_keys/policy.py), read with each key.
    budgets = JSON(null=False, default={})


class Membership(Table, tablename="memberships"):
    """A user's role in a project; one row per (project, user), enforced by a unique index."""

    id = UUID(primary_key=True)
    project = ForeignKey(references=Project, null=False, on_delete=OnDelete.cascade)
    user = ForeignKey(references=User, null=False, on_delete=OnDelete.cascade, index=True)
    role = Varchar(length=16, null=False)
    created_at = Timestamptz(null=False)
