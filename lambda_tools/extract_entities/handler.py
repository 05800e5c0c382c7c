"""Lambda entry point of extract_entities (event and result shapes: see `lambda_tools.lambda_handler`)."""

from lambda_tools.lambda_handler import make_handler

handler = make_handler("extract_entities")
