"""Environment variable names the Lambda tool functions read, defined once.

The CDK stack imports this module to set them on each function; `lambda_tools.settings`
is the one place that reads them. Importing it must stay cheap (stdlib only).
"""

DOCUMENTS_BUCKET = "DOCUMENTS_BUCKET"  # S3 bucket holding the document corpus
DOCUMENTS_PREFIX = "DOCUMENTS_PREFIX"  # key prefix of the corpus inside DOCUMENTS_BUCKET, e.g. "documents/"
INDEX_KEY = "INDEX_KEY"  # S3 key of the search index JSON (default: DOCUMENTS_PREFIX + "_index/search-index.json")
REPORTS_BUCKET = "REPORTS_BUCKET"  # S3 bucket that publish_report writes to
REPORTS_PREFIX = "REPORTS_PREFIX"  # key prefix of published reports, e.g. "reports/"
REPORTS_TOPIC_ARN = "REPORTS_TOPIC_ARN"  # SNS topic notified on each new report (optional)
FETCH_ALLOW_HOSTS = "FETCH_ALLOW_HOSTS"  # comma-separated hosts fetch_document may reach even if private (tests/VPC)
LOG_LEVEL = "LOG_LEVEL"  # DEBUG | INFO | WARNING | ERROR (read by Powertools Logger too)
POWERTOOLS_SERVICE_NAME = "POWERTOOLS_SERVICE_NAME"  # service name in structured logs

ALL = (
    DOCUMENTS_BUCKET, DOCUMENTS_PREFIX, INDEX_KEY, REPORTS_BUCKET, REPORTS_PREFIX, REPORTS_TOPIC_ARN,
    FETCH_ALLOW_HOSTS, LOG_LEVEL, POWERTOOLS_SERVICE_NAME,
)
