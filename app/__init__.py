"""TrayLinx Keys: project API keys and LLM provider keys behind a GraphQL API."""
