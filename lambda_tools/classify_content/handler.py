"""Lambda entry point of classify_content (event and result shapes: see `lambda_tools.lambda_handler`)."""

from lambda_tools.lambda_handler import make_handler

handler = make_handler("classify_content")
