"""Projects and who belongs to them."""

from piccolo.columns import UUID, ForeignKey, Timestamptz, Varchar
from piccolo.columns.base import OnDelete
from piccolo.table import Table

from app.accounts.tables import User


class Project(Table, tablename="projects"):
    id = UUID(primary_key=True)
    name = Varchar(length=100, null=False)
    created_at = Timestamptz(null=False)


class Membership(Table, tablename="memberships"):
    """A user's role in a project; one row per (project, user), enforced by a unique index."""

    id = UUID(primary_key=True)
    project = ForeignKey(references=Project, null=False, on_delete=OnDelete.cascade)
    user = ForeignKey(references=User, null=False, on_delete=OnDelete.cascade, index=True)
    role = Varchar(length=16, null=False)
    created_at = Timestamptz(null=False)
