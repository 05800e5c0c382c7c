"""Secrets Manager secrets the agents read at start: the LLM API key and the platform's API keys."""

from __future__ import annotations

from aws_cdk import RemovalPolicy, SecretValue
from aws_cdk import aws_secretsmanager as secretsmanager
from constructs import Construct

from stacks.nag import Waiver, suppress

LLM_KEY_PLACEHOLDER = "PUT-YOUR-LLM-API-KEY-HERE"


def import_secret(scope: Construct, construct_id: str, name_or_arn: str) -> tuple[secretsmanager.ISecret, str]:
    """A secret made outside this stack (kept from an earlier deployment, or an MCP server's token), by its
    name or complete ARN, and the id the runtime passes as SecretId."""
    if name_or_arn.startswith("arn:"):
        return secretsmanager.Secret.from_secret_complete_arn(scope, construct_id, name_or_arn), name_or_arn
    return secretsmanager.Secret.from_secret_name_v2(scope, construct_id, name_or_arn), name_or_arn


class PlatformSecrets(Construct):
    """The LLM key secret and the API keys secret, created or (`existing_*`) imported.

    Created secrets get no fixed name: a retained secret from a destroyed deployment would
    otherwise block the next deploy. Their ARNs reach the agents as the secret ids
    (`llm_api_key_id`, `api_keys_id`). The LLM key secret starts as a visible placeholder (the
    provider's 401 then names it); the API keys secret starts with one random key, so the API
    is never open. Values are plain strings: the LLM key, and comma-separated API keys.
    """

    def __init__(self, scope: Construct, construct_id: str, *, retain: bool,
                 existing_llm_api_key: str | None = None, existing_api_keys: str | None = None) -> None:
        super().__init__(scope, construct_id)
        removal = RemovalPolicy.RETAIN if retain else RemovalPolicy.DESTROY
        if existing_llm_api_key:
            self.llm_api_key, self.llm_api_key_id = import_secret(self, "LlmApiKey", existing_llm_api_key)
        else:
            self.llm_api_key = self._waived(secretsmanager.Secret(
                self,
                "LlmApiKey",
                description="API key of the OpenAI-compatible LLM endpoint (plain string).",
                secret_string_value=SecretValue.unsafe_plain_text(LLM_KEY_PLACEHOLDER),
                removal_policy=removal,
            ))
            self.llm_api_key_id = self.llm_api_key.secret_arn
        if existing_api_keys:
            self.api_keys, self.api_keys_id = import_secret(self, "ApiKeys", existing_api_keys)
        else:
            self.api_keys = self._waived(secretsmanager.Secret(
                self,
                "ApiKeys",
                description="Comma-separated bearer API keys accepted by the task API.",
                generate_secret_string=secretsmanager.SecretStringGenerator(
                    password_length=40, exclude_punctuation=True, include_space=False
                ),
                removal_policy=removal,
            ))
            self.api_keys_id = self.api_keys.secret_arn

    @staticmethod
    def _waived(secret: secretsmanager.Secret) -> secretsmanager.Secret:
        suppress(secret, Waiver(
            "AwsSolutions-SMG4",
            "Holds keys issued by third parties or handed to API clients; rotating them needs the issuer "
            "or the clients, so automatic rotation cannot apply. Rotate with put-secret-value."))
        return secret
