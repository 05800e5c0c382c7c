"""The fetch_document tool."""
