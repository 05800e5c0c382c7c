"""Environment variable names, defined once.

The CDK stacks set these on the ECS task definitions and the runtime reads them
(through `agent_runtime.settings`). Importing this module must stay cheap: the CDK
app imports it too.
"""

PREFIX = "AGENT_PLATFORM_"

AGENT_NAME = PREFIX + "AGENT"  # which agent this container serves (a name declared in the agents file)
AGENTS_FILE = PREFIX + "AGENTS_FILE"  # the agents file (TOML); default: agents.toml at the repository root
AGENTS_JSON = PREFIX + "AGENTS_JSON"  # the declared agents as JSON, instead of the file (the stack sets it)
MODEL = PREFIX + "MODEL"  # model id, e.g. gpt-4o-mini; "offline" forces the offline model
TOOL_MODE = PREFIX + "TOOL_MODE"  # native | react
MODEL_STREAM = PREFIX + "MODEL_STREAM"  # true (default) | false: stream the model's text (live model.delta events)
DATA_DIR = PREFIX + "DATA_DIR"  # local server: database and published reports
DOCS_DIR = PREFIX + "DOCS_DIR"  # local corpus folder
CORPUS_DIR = PREFIX + "CORPUS_DIR"  # where the built-in corpus is cached (default: the user cache dir)
STORE = PREFIX + "STORE"  # sqlite | dynamodb
QUEUE = PREFIX + "QUEUE"  # local | sqs
TABLE_NAME = PREFIX + "TABLE_NAME"
QUEUE_URL = PREFIX + "QUEUE_URL"
API_KEYS = PREFIX + "API_KEYS"  # comma separated (local)
API_KEYS_SECRET = PREFIX + "API_KEYS_SECRET"  # Secrets Manager secret id holding API keys (AWS)
LLM_SECRET = PREFIX + "LLM_SECRET"  # Secrets Manager secret id holding the LLM API key (AWS)
TOOL_FUNCTIONS = PREFIX + "TOOL_FUNCTIONS"  # JSON object {tool_name: function name or ARN}
WORKER_CONCURRENCY = PREFIX + "WORKER_CONCURRENCY"
AWS_TRANSPORT = PREFIX + "AWS_TRANSPORT"  # light (default) | boto3: how the per-step AWS calls are made
AWS_TRANSPORTS = ("light", "boto3")
APPROVAL_TIMEOUT_POLICY = PREFIX + "APPROVAL_TIMEOUT_POLICY"  # deny (default) | approve
QUEUE_VISIBILITY_S = PREFIX + "QUEUE_VISIBILITY_S"  # seconds a received task message stays hidden (SQS)
MAX_ATTEMPTS = PREFIX + "MAX_ATTEMPTS"  # attempts at a task before the worker fails it
# Clients of the task API (`agent-platform submit/watch`). Not AGENT_PLATFORM_API_KEY: that name is
# already the LLM endpoint's key (see settings.Settings.api_key).
URL = PREFIX + "URL"  # base URL of the task API, e.g. https://agents.example.com
CLIENT_KEY = PREFIX + "CLIENT_KEY"  # bearer key the client sends
PRICES = PREFIX + "PRICES"  # JSON object {model: [usd_per_1m_input, usd_per_1m_output]}
LOG_LEVEL = PREFIX + "LOG_LEVEL"
API_DOCS = PREFIX + "API_DOCS"  # true (default) | false: serve /docs, /redoc and /openapi.json (off when deployed)
REQUIRE_SECOND_APPROVER = PREFIX + "REQUIRE_SECOND_APPROVER"  # true: a submitter may not approve its own calls
RATE_LIMIT_PER_S = PREFIX + "RATE_LIMIT_PER_S"  # requests a second per principal (token bucket); 0 = off
RATE_LIMIT_BURST = PREFIX + "RATE_LIMIT_BURST"  # the token bucket's size
MAX_STREAMS_PER_KEY = PREFIX + "MAX_STREAMS_PER_KEY"  # open event streams per API key; 0 = no bound
BODY_TIMEOUT_S = PREFIX + "BODY_TIMEOUT_S"  # seconds a request body may take to arrive (then 408)
TRUSTED_PROXIES = PREFIX + "TRUSTED_PROXIES"  # comma-separated addresses/CIDRs whose X-Forwarded-For counts
SESSION_BUSY = PREFIX + "SESSION_BUSY"  # queue (default) | reject: a submit while its session's earlier task runs
QUOTA_BYTES_PER_DAY = PREFIX + "QUOTA_BYTES_PER_DAY"  # bytes of task input a principal stores per UTC day; 0 = off
DOCUMENTS_BUCKET = PREFIX + "DOCUMENTS_BUCKET"
REPORTS_BUCKET = PREFIX + "REPORTS_BUCKET"

# Standard OpenTelemetry names, honoured as-is (agent_runtime.tracing); the stacks set them when `traces` is on.
OTEL_TRACES_EXPORTER = "OTEL_TRACES_EXPORTER"
OTEL_EXPORTER_OTLP_TRACES_ENDPOINT = "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"
OTEL_SERVICE_NAME = "OTEL_SERVICE_NAME"
OTEL_TRACES_SAMPLER = "OTEL_TRACES_SAMPLER"
OTEL_TRACES_SAMPLER_ARG = "OTEL_TRACES_SAMPLER_ARG"
OTEL_CAPTURE_CONTENT = "OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT"  # prompts and completions in spans

# Standard names of the OpenAI client, honoured as-is.
OPENAI_BASE_URL = "OPENAI_BASE_URL"
OPENAI_API_KEY = "OPENAI_API_KEY"
# Set by ECS in every container (Fargate platform 1.4+): the agent endpoint the worker protects its task
# from scale-in through while it runs tasks (agent_runtime.protection). Not a setting: ECS owns it.
ECS_AGENT_URI = "ECS_AGENT_URI"
