"""The search_documents tool."""
