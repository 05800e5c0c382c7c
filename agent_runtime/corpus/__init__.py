"""The built-in corpus: Python's standard library documentation, rendered with pydoc.

Every machine with Python has it and nobody on the team wrote it, so `agent-platform run`
works out of the box. It is rendered on first use into the user's cache folder (one plain
text document per module, large classes and modules split into their own documents so a
search hit points at the relevant part), indexed for `search_documents`, and reused until
the Python version or the module list changes.

`cache` builds and reuses the folder; `render` turns modules into documents, with the help
of `pydoc_text`, which parses pydoc's plain-text output.
"""

from agent_runtime.corpus.cache import (
    FORMAT_VERSION,
    MARKER,
    MODULES,
    Corpus,
    build_search_index,
    corpus_is_current,
    default_corpus_dir,
    ensure_corpus,
    write_corpus,
)
from agent_runtime.corpus.render import (
    MAX_DOCUMENT_CHARS,
    SPLIT_CLASS_CHARS,
    SPLIT_MODULE_CHARS,
    CorpusDocument,
    render_module,
    render_topics,
)

__all__ = [
    "FORMAT_VERSION",
    "MARKER",
    "MAX_DOCUMENT_CHARS",
    "MODULES",
    "SPLIT_CLASS_CHARS",
    "SPLIT_MODULE_CHARS",
    "Corpus",
    "CorpusDocument",
    "build_search_index",
    "corpus_is_current",
    "default_corpus_dir",
    "ensure_corpus",
    "render_module",
    "render_topics",
    "write_corpus",
]
