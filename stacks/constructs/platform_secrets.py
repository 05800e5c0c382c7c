"""Secrets Manager secrets the agents read at start: the LLM API key and the platform's API keys."""

from __future__ import annotations

from aws_cdk import RemovalPolicy, SecretValue
from aws_cdk import aws_secretsmanager as secretsmanager
from constructs import Construct

from stacks.nag import Waiver, suppress

LLM_KEY_PLACEHOLDER = "PUT-YOUR-LLM-API-KEY-HERE"


class PlatformSecrets(Construct):
    """Two secrets named `<prefix>/llm-api-key` and `<prefix>/api-keys`.

    The LLM key secret starts as a visible placeholder (the provider's 401 then names it);
    the API keys secret starts with one random key, so the API is never open.
    Values are plain strings: the LLM key, and comma-separated API keys.
    """

    def __init__(self, scope: Construct, construct_id: str, *, prefix: str, retain: bool) -> None:
        super().__init__(scope, construct_id)
        removal = RemovalPolicy.RETAIN if retain else RemovalPolicy.DESTROY
        self.llm_api_key_name = f"{prefix}/llm-api-key"
        self.api_keys_name = f"{prefix}/api-keys"
        self.llm_api_key = secretsmanager.Secret(
            self,
            "LlmApiKey",
            secret_name=self.llm_api_key_name,
            description="API key of the OpenAI-compatible LLM endpoint (plain string).",
            secret_string_value=SecretValue.unsafe_plain_text(LLM_KEY_PLACEHOLDER),
            removal_policy=removal,
        )
        self.api_keys = secretsmanager.Secret(
            self,
            "ApiKeys",
            secret_name=self.api_keys_name,
            description="Comma-separated bearer API keys accepted by the task API.",
            generate_secret_string=secretsmanager.SecretStringGenerator(
                password_length=40, exclude_punctuation=True, include_space=False
            ),
            removal_policy=removal,
        )
        for secret in (self.llm_api_key, self.api_keys):
            suppress(secret, Waiver(
                "AwsSolutions-SMG4",
                "Holds keys issued by third parties or handed to API clients; rotating them needs the issuer "
                "or the clients, so automatic rotation cannot apply. Rotate with put-secret-value."))
