"""The summarize_document tool."""
