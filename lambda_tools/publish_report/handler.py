"""Lambda entry point of publish_report (event and result shapes: see `lambda_tools.lambda_handler`)."""

from lambda_tools.lambda_handler import make_handler

handler = make_handler("publish_report")
