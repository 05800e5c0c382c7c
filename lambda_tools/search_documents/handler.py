"""Lambda entry point of search_documents (event and result shapes: see `lambda_tools.lambda_handler`)."""

from lambda_tools.lambda_handler import make_handler

handler = make_handler("search_documents")
