"""LLM provider keys: one per provider and project, the secret encrypted at rest."""

from piccolo.columns import JSON, UUID, Boolean, ForeignKey, Text, Timestamptz, Varchar
from piccolo.columns.base import OnDelete
from piccolo.table import Table

from app.projects.tables import Project


class LlmApiKey(Table, tablename="llm_api_keys"):
    id = UUID(primary_key=True)
    project = ForeignKey(references=Project, null=False, on_delete=OnDelete.cascade)
    provider = Varchar(length=32, null=False)
    # AES-256-GCM envelope bound to (project, provider, id); see app/security/crypto.py.
    secret_ciphertext = Text(null=False, secret=True)
    # Which keyring entry sealed the secret: lets start-up and rotation find rows without
    # decrypting them.
    encryption_key_id = Varchar(length=32, null=False, index=True)
    secret_hint = Varchar(length=8, null=False)
    custom_models = JSON(null=False, default="[]")
    # Prices of custom models, by model id: {"input": micro-USD per million tokens, "output": ...}.
    custom_model_prices = JSON(null=False, default={})
    with_default_models = Boolean(null=False, default=True)
    created_at = Timestamptz(null=False)
    created_by = UUID(null=True, default=None)
    updated_at = Timestamptz(null=False)
