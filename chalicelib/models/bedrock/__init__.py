"""Amazon Bedrock implementations of the model protocols in ``chalicelib.core.ports.models``, one module per kind.

- ``calls``: the error policy every adapter shares (``call_bedrock``) and their base class.
- ``embedders``: text embedders (Titan Text V2, Cohere Embed) and the model-id registry (``model_family``).
- ``image_embedders``: multimodal embedders (Titan Multimodal G1, Nova Multimodal).
- ``rankers``: the ``Rerank`` API.
- ``generators``: the ``Converse`` API, as query rewriter and as answer generator.

Nothing is re-exported here: callers import the module they use, so building one kind of adapter loads only that
module (``chalicelib.composition`` imports them lazily, and ``import app`` loads none of them).
"""
