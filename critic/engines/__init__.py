"""Model engines behind one contract (:class:`ChatEngine`). Build them with ``get_engine(spec)``."""

from critic.engines.base import ChatEngine, Chat, EngineError, Generation, Message, Sampling, is_continuation

__all__ = ["ChatEngine", "Chat", "EngineError", "Generation", "Message", "Sampling", "is_continuation"]
