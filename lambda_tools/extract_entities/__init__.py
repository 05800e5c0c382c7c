"""The extract_entities tool."""
