"""Lambda entry point of analyze_data (event and result shapes: see `lambda_tools.lambda_handler`)."""

from lambda_tools.lambda_handler import make_handler

handler = make_handler("analyze_data")
