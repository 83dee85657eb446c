"""recochat's dialogue core and front ends. `RecochatRetriever` (the LangChain retriever) is importable from here."""


def __getattr__(name: str) -> object:
    if name == "RecochatRetriever":  # on first use: importing the package stays cheap
        from .retriever import RecochatRetriever

        return RecochatRetriever
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
